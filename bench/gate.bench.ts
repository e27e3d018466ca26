/**
 * Gate detection latency: a real HTTP server on loopback answers 503 (unhealthy, right version)
 * until a random moment, then 200 healthy. Measured: the time from that moment to the gate
 * passing, for switchyard's gate (prompt settings, then the stack defaults) and for the fixed
 * 2-second poll the seed scripts use (`30 x 2 s`, first healthy answer wins), driven the same way.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { type GateSpec, gateSettings, tryOnce, waitUntilStable } from "../components/providers/healthGate";
import { stackConfigSchema } from "../infra/config";
import { type BenchReport, median, percentile, round } from "./report";

const defaultHealth = stackConfigSchema.shape.health.parse(undefined);
const version = "1.0.0-bench";
const runs = 30;
/** Runs at once; each has its own server, so they only share the event loop. */
const batch = 15;
/** The app turns healthy uniformly at random in this range after the gate starts (a container's start-up). */
const healthyAfterMs = { min: 500, max: 6000 };
const fixedPollMs = 2000;

/** Settings as the stack defaults (infra/config.ts `health`) give them. */
const defaults: Omit<GateSpec, "url"> = {
  expectedVersion: version,
  ...gateSettings(defaultHealth, defaultHealth.stableForSeconds),
};

interface Sample {
  /** From the app turning healthy to the gate passing. */
  lagMs: number;
  requests: number;
}

type Gate = (spec: GateSpec) => Promise<void>;

const switchyardGate: Gate = async (spec) => {
  await waitUntilStable(spec);
};

/** The seed scripts' loop: one try every 2 s until one passes. */
const fixedPoll: Gate = async (spec) => {
  for (;;) {
    if ((await tryOnce(spec, spec.timeoutMs)).passed) return;
    await new Promise((resolve) => setTimeout(resolve, fixedPollMs));
  }
};

async function oneRun(gate: Gate, settings: Omit<GateSpec, "url">): Promise<Sample> {
  let healthyAt: number | undefined;
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    const healthy = healthyAt !== undefined;
    res.writeHead(healthy ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: healthy ? "healthy" : "unhealthy", version }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const turnHealthy = setTimeout(
    () => {
      healthyAt = performance.now();
    },
    healthyAfterMs.min + Math.random() * (healthyAfterMs.max - healthyAfterMs.min),
  );
  try {
    await gate({ ...settings, url: `http://127.0.0.1:${port}/health` });
    const passedAt = performance.now();
    if (healthyAt === undefined) throw new Error("the gate passed before the app turned healthy");
    return { lagMs: passedAt - healthyAt, requests };
  } finally {
    clearTimeout(turnHealthy);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function measure(gate: Gate, settings: Omit<GateSpec, "url">): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let started = 0; started < runs; started += batch) {
    const size = Math.min(batch, runs - started);
    samples.push(...(await Promise.all(Array.from({ length: size }, () => oneRun(gate, settings)))));
  }
  return samples;
}

export default async function gateDetection(): Promise<BenchReport> {
  const scenarios = [
    {
      key: "prompt",
      label: "switchyard, 1 pass, no window",
      samples: await measure(switchyardGate, {
        ...defaults,
        successesNeeded: 1,
        stableForMs: 0,
      }),
    },
    {
      key: "defaults",
      label: "switchyard, defaults (3 passes + 10 s window)",
      samples: await measure(switchyardGate, defaults),
    },
    {
      key: "fixedPoll",
      label: "fixed 2 s poll, 1 pass",
      samples: await measure(fixedPoll, {
        ...defaults,
        successesNeeded: 1,
        stableForMs: 0,
      }),
    },
  ];

  const figures: BenchReport["figures"] = {};
  const table: BenchReport["table"] = scenarios.map(({ key, label, samples }) => {
    const lags = samples.map((s) => s.lagMs);
    figures[`${key}MedianMs`] = round(median(lags));
    figures[`${key}P95Ms`] = round(percentile(lags, 95));
    figures[`${key}MedianRequests`] = median(samples.map((s) => s.requests));
    return {
      gate: label,
      runs: samples.length,
      "median ms": figures[`${key}MedianMs`],
      "p95 ms": figures[`${key}P95Ms`],
      "max ms": round(Math.max(...lags)),
      "median requests": figures[`${key}MedianRequests`],
    };
  });
  // The window is a requirement, not detection lag: what the gate adds on top of it.
  figures.defaultsOverWindowMedianMs = round(figures.defaultsMedianMs - defaults.stableForMs);
  figures.fixedPollOverPromptMedianRatio = round(figures.fixedPollMedianMs / figures.promptMedianMs);

  return {
    name: "gate",
    table,
    figures,
    notes: [
      `lag = time from the server turning healthy to the gate passing; the server turns healthy uniformly in ${healthyAfterMs.min}-${healthyAfterMs.max} ms after the gate starts`,
      `${runs} runs per gate, ${batch} at a time (each with its own server on loopback)`,
      `computed, not measured: a fixed ${fixedPollMs} ms poll lags ${fixedPollMs / 2} ms on average (uniform 0-${fixedPollMs} ms, p95 ${fixedPollMs * 0.95} ms) plus one request`,
      "defaults include the 10 s stable window by design; defaultsOverWindowMedianMs is what the gate adds on top of it",
    ],
  };
}
