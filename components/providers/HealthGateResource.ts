/**
 * HealthGate: a resource that exists only once a slot has proven healthy, on the expected
 * version, for the stable-for window. It reaches the slot's loopback port on the target through
 * the executor's port forwarding, so slot ports never need to be public. It re-runs (is
 * replaced) exactly when what it guards changes: the slot's image or container, the expected
 * version, or where it looks.
 */
import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import { executorTarget, withExecutor } from "./executor";
import { waitUntilStable } from "./healthGate";
import { gateInputProblems, type HealthGateInputs, specOf, urlOf } from "./healthGateInputs";
import { type ArgsOf, canonical, checked } from "./inputs";

export type { HealthGateInputs } from "./healthGateInputs";

/** What the state keeps: only what the next diff compares, and what passed. Never the ssh key. */
export interface HealthGateOutputs {
  /** The executor's description (`local`, `ssh user@host:port`): where the gate looked from. */
  target: string;
  host: string;
  port: number;
  path: string;
  expectedVersion: string;
  guards: string | Record<string, string>;
  passedAt: string;
  waitedMs: number;
  checks: number;
  version: string;
  status: string;
}

/** A change to any of these re-runs the gate; timing settings alone do not. */
const guardedKeys = ["target", "host", "port", "path", "expectedVersion", "guards"] as const;

function guardedOf(inputs: HealthGateInputs): Pick<HealthGateOutputs, (typeof guardedKeys)[number]> {
  const { host, port, path, expectedVersion, guards } = inputs;
  return {
    target: executorTarget(inputs.executor),
    host,
    port,
    path,
    expectedVersion,
    guards,
  };
}

/**
 * Thin on purpose: check validates, diff replaces when what is guarded changes, create and
 * update run the gate through the executor, delete has nothing to undo.
 */
export const healthGateProvider: pulumi.dynamic.ResourceProvider<HealthGateInputs, HealthGateOutputs> = {
  async check(_olds, news) {
    return checked(news, gateInputProblems(news));
  },

  async diff(_id, olds, news) {
    const now = guardedOf(news);
    const changed = guardedKeys.filter((key) => canonical(olds[key]) !== canonical(now[key]));
    // `target` is derived from the `executor` input, which is the name the engine shows.
    const replaces = changed.map((key) => (key === "target" ? "executor" : key));
    return {
      changes: replaces.length > 0,
      replaces,
      deleteBeforeReplace: false,
    };
  },

  async create(inputs) {
    const outs = await runGate(inputs);
    return { id: `${outs.host}:${outs.port}${outs.path}@${outs.passedAt}`, outs };
  },

  // diff only ever replaces, so the engine has no reason to come here; if it does, running the
  // gate again beats the host's fallback, which would record empty outputs.
  async update(_id, _olds, news) {
    return { outs: await runGate(news) };
  },

  async delete() {},
};

async function runGate(inputs: HealthGateInputs): Promise<HealthGateOutputs> {
  const guarded = guardedOf(inputs);
  const result = await withExecutor(inputs.executor, async (executor) => {
    const forwarded = await executor.forward(inputs.host, inputs.port);
    try {
      const url = urlOf(forwarded.host, forwarded.port, inputs.path);
      // The dynamic provider host has no engine connection for pulumi.log: progress goes to
      // stderr, which the engine collects from its plugins.
      return await waitUntilStable(specOf(inputs, url), (message) =>
        process.stderr.write(`health gate ${guarded.target} ${inputs.host}:${inputs.port}: ${message}\n`),
      );
    } finally {
      await forwarded.close();
    }
  });
  return { ...guarded, ...result };
}

/** The resource's arguments: the provider's inputs, each one an Input. */
export type HealthGateArgs = ArgsOf<HealthGateInputs>;

/** Passes (is created) only once the slot is healthy on the expected version and stayed so. */
export class HealthGate extends BundledResource {
  declare readonly target: pulumi.Output<string>;
  declare readonly passedAt: pulumi.Output<string>;
  declare readonly waitedMs: pulumi.Output<number>;
  declare readonly checks: pulumi.Output<number>;
  declare readonly version: pulumi.Output<string>;
  /** "healthy", or "degraded" where allowed. */
  declare readonly status: pulumi.Output<string>;

  constructor(name: string, args: HealthGateArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledProvider(__filename, { healthGateProvider }),
      name,
      {
        ...args,
        // The ssh key travels inside `executor`; the whole spec stays secret in state.
        executor: pulumi.secret(args.executor),
        target: undefined,
        passedAt: undefined,
        waitedMs: undefined,
        checks: undefined,
        version: undefined,
        status: undefined,
      },
      opts,
      "switchyard",
      "HealthGate",
    );
  }
}
