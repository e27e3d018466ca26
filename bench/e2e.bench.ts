/**
 * The release flow through the real engine, timed: `pulumi up` of the dev stack for a first
 * deploy, a no-op, a release to the idle slot, switches and rollbacks under keep-alive load; and,
 * on the same slot containers in the same run, the flow the seed guides script in bash (start the
 * idle slot, `curl /health` every 2 s up to 30 times, rewrite the nginx upstream, `nginx -s
 * reload`) behind a plain nginx of the same image.
 *
 * Each `pulumi up` is split with the engine's own events, stamped as they are written: the CLI's
 * start, the program's start up to its first resource, the rest of the program and the diffs up to
 * the switch step, the switch itself (until the first request the new slot answers), the
 * post-switch window, and the finish. A release is split into its gate (the app's start plus the
 * configured windows) and everything else.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { delay, httpGet, run, runChecked, waitForHttp } from "../test/support/process";
import { layout, newDevStack, pinnedImage, type TestStack } from "../test/e2e/support/engine";
import { type StampedEvent, stepOf, type TimedUpdate, timedUpdate } from "../test/e2e/support/events";
import { type Answer, Probe, unexpected, whileProbing } from "../test/e2e/support/traffic";
import { newVpsStack, startVps, type TestVps } from "../test/e2e/support/vps";
import { teardownKeptStack, updateStackFile } from "../test/e2e/support/examples";
import { newNativeExampleStack, startSystemdHost } from "../test/e2e/support/systemdHost";
import { executorSpecFor, withExecutor } from "../components/providers/executor";
import { parseTarget } from "../components/target";
import { type BenchReport, median, round } from "./report";

const switchRounds = 2;
const loadConnections = 32;
/** The dev stack's gate and post-switch settings (Pulumi.dev.yaml and the defaults). */
const stableForSeconds = 5;
const postSwitchSeconds = 30;
const bashRouterName = "bench-bash-router";
const bashRouterPort = 8090;
const loopbackPorts = { blue: 18081, green: 18082 };

type Row = Record<string, string | number>;

const seconds = (ms: number | undefined) => (ms === undefined ? "" : round(ms / 1000, 2));

/** When the first event matching `match` was written, or undefined. */
function firstAt(update: TimedUpdate, match: (event: StampedEvent) => boolean): number | undefined {
  return update.events.find(match)?.at;
}

/** How long the step that made resource `name` (a create, the new one of a replacement, an update) took. */
function stepSpan(update: TimedUpdate, name: string): number | undefined {
  const making = new Set(["create", "create-replacement", "update"]);
  const made = (kind: "resourcePreEvent" | "resOutputsEvent") =>
    firstAt(update, ({ event }) => making.has(stepOf(event, kind, name)?.op ?? "same"));
  const began = made("resourcePreEvent");
  const ended = made("resOutputsEvent");
  return began === undefined || ended === undefined ? undefined : ended - began;
}

function mustSucceed(update: TimedUpdate, what: string): void {
  if (update.code !== 0) throw new Error(`${what} failed\n${update.output}`);
}

/**
 * `pulumi up` under keep-alive load (or, with `light`, one probe connection every 20 ms, so the
 * load's own CPU is not in the timing); when traffic reached `to`, and what the probe saw.
 */
async function upUnderLoad(
  stack: TestStack,
  to: Answer,
  url?: string,
  light = false,
): Promise<{ update: TimedUpdate; movedAt?: number; seen: Record<Answer, number> }> {
  const probe = light ? new Probe(1, 20, url) : new Probe(loadConnections, 0, url);
  let update: TimedUpdate | undefined;
  const seen = await whileProbing(probe, async () => {
    update = await timedUpdate(stack, ["up", "--yes", "--skip-preview"]);
    await delay(200);
  });
  if (!update) throw new Error("no update ran");
  return { update, movedAt: probe.firstTime(to), seen };
}

/** A switch (or rollback) split by the engine's events; lost requests from the load. */
function switchRow(
  operation: string,
  { update, movedAt, seen }: Awaited<ReturnType<typeof upUnderLoad>>,
  expected: Answer[],
): Row {
  mustSucceed(update, operation);
  const prelude = firstAt(update, ({ event }) => event.preludeEvent !== undefined);
  const firstResource = firstAt(
    update,
    ({ event }) =>
      event.resourcePreEvent !== undefined &&
      !event.resourcePreEvent.metadata.type.startsWith("pulumi:pulumi:Stack"),
  );
  const switchStep = firstAt(
    update,
    ({ event }) => stepOf(event, "resourcePreEvent", "router-upstream")?.op === "update",
  );
  const switchDone = firstAt(
    update,
    ({ event }) => stepOf(event, "resOutputsEvent", "router-upstream") !== undefined,
  );
  const since = (from: number | undefined, to: number | undefined) =>
    from === undefined || to === undefined ? undefined : to - from;
  return {
    operation,
    wallS: seconds(update.exitedAt - update.startedAt),
    toTrafficS: seconds(since(update.startedAt, movedAt)),
    cliS: seconds(since(update.startedAt, prelude)),
    programStartS: seconds(since(prelude, firstResource)),
    programAndDiffS: seconds(since(firstResource, switchStep)),
    switchS: seconds(since(switchStep, movedAt)),
    windowS: seconds(since(movedAt, switchDone)),
    finishS: seconds(since(switchDone, update.exitedAt)),
    lost: Object.values(unexpected(seen, expected)).reduce((sum, count) => sum + count, 0),
    requests: Object.values(seen).reduce((sum, count) => sum + count, 0),
    sshSessions: "",
  };
}

function plainRow(operation: string, update: TimedUpdate, gateStep?: string): Row {
  mustSucceed(update, operation);
  const wall = update.exitedAt - update.startedAt;
  const gateMs = gateStep ? stepSpan(update, gateStep) : undefined;
  return {
    operation,
    wallS: seconds(wall),
    toTrafficS: "",
    cliS: "",
    programStartS: "",
    programAndDiffS: "",
    switchS: "",
    windowS: seconds(gateMs),
    finishS: gateMs === undefined ? "" : seconds(wall - gateMs),
    lost: "",
    requests: "",
    sshSessions: "",
  };
}

/** nginx as the seed guides run it: one upstream file, rewritten and reloaded to switch. */
async function startBashRouter(): Promise<{ dir: string; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-bash-router-"));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, "upstream.conf"), `server 127.0.0.1:${loopbackPorts.blue};\n`);
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    [
      "events {}",
      "pid /tmp/nginx.pid;",
      "http {",
      "  upstream app { include /etc/nginx/bash-flow/upstream.conf; keepalive 32; }",
      "  server {",
      `    listen 127.0.0.1:${bashRouterPort};`,
      '    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }',
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  await run("docker", ["rm", "--force", bashRouterName]);
  await runChecked("docker", [
    "run",
    "--detach",
    "--name",
    bashRouterName,
    "--network",
    "host",
    "--volume",
    `${dir}:/etc/nginx/bash-flow:ro`,
    pinnedImage("nginx"),
    "nginx",
    "-c",
    "/etc/nginx/bash-flow/nginx.conf",
    "-g",
    "daemon off;",
  ]);
  await waitForHttp(`http://127.0.0.1:${bashRouterPort}/`, (res) => res.status === 200, 30_000);
  return {
    dir,
    stop: async () => {
      await run("docker", ["rm", "--force", bashRouterName]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The seed guides' switch to green, timed from its first command: start the idle slot, poll its
 * health every 2 s (at most 30 times), rewrite the upstream, reload.
 */
async function bashFlow(dir: string): Promise<{ startedAt: number; reloadedAt: number }> {
  const startedAt = Date.now();
  await runChecked("docker", ["start", "app-green"]);
  let healthy = false;
  for (let attempt = 0; attempt < 30 && !healthy; attempt++) {
    healthy = await httpGet(`http://127.0.0.1:${loopbackPorts.green}/health`, 2000).then(
      (res) => res.status === 200,
      () => false,
    );
    if (!healthy) await delay(2000);
  }
  if (!healthy) throw new Error("app-green never answered 200 on /health");
  fs.writeFileSync(path.join(dir, "upstream.conf"), `server 127.0.0.1:${loopbackPorts.green};\n`);
  await runChecked("docker", [
    "exec",
    bashRouterName,
    "nginx",
    "-c",
    "/etc/nginx/bash-flow/nginx.conf",
    "-s",
    "reload",
  ]);
  return { startedAt, reloadedAt: Date.now() };
}

/** SSH sessions the VPS's sshd accepted while `work` ran. */
async function sessionsDuring<T>(
  vps: TestVps,
  work: () => Promise<T>,
): Promise<{ result: T; sessions: number }> {
  const accepted = () =>
    vps
      .sshdLog()
      .split("\n")
      .filter((line) => line.includes("Accepted publickey")).length;
  const before = accepted();
  const result = await work();
  return { result, sessions: accepted() - before };
}

/**
 * The same operations on a stage-shaped stack over SSH to the test VPS (a network namespace with
 * its own engine and sshd), each with the SSH sessions it opened; and what one session costs.
 */
async function overSsh(rows: Row[], figures: Record<string, number>): Promise<void> {
  const vps = await startVps();
  try {
    const stack = await newVpsStack(vps);
    const site = `http://${vps.address}/`;
    const plain = async (operation: string, gate?: string) => {
      const { result, sessions } = await sessionsDuring(vps, () =>
        timedUpdate(stack, ["up", "--yes", "--skip-preview"]),
      );
      const row: Row & { sshSessions: number } = {
        ...plainRow(`ssh: ${operation}`, result, gate),
        sshSessions: sessions,
      };
      rows.push(row);
      return row;
    };
    await plain("first deploy", "app-green-gate");
    const noOp = await plain("no-op");
    await stack.pulumiChecked(["config", "set", "--path", "slots.blue.version", "1.2.0"]);
    const release = await plain("idle release", "app-blue-gate");

    const toTraffic: number[] = [];
    for (const [slot, answer, other] of [
      ["blue", "blue 1.2.0", "green 1.1.0"],
      ["green", "green 1.1.0", "blue 1.2.0"],
    ] as const) {
      await stack.pulumiChecked(["config", "set", "activeSlot", slot]);
      const { result, sessions } = await sessionsDuring(vps, () => upUnderLoad(stack, answer, site));
      const row: Row & { sshSessions: number } = {
        ...switchRow(`ssh: ${slot === "blue" ? "switch" : "rollback"}`, result, [answer, other]),
        sshSessions: sessions,
      };
      rows.push(row);
      if (typeof row.toTrafficS === "number") toTraffic.push(row.toTrafficS);
    }

    const handshakes: number[] = [];
    const spec = executorSpecFor(
      parseTarget({ host: `ssh://${vps.user}@${vps.address}`, hostKey: vps.hostKey }),
      vps.privateKey,
    );
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await withExecutor(spec, async () => undefined);
      handshakes.push(performance.now() - started);
    }
    figures.sshNoOpS = Number(noOp.wallS);
    figures.sshNoOpSessions = noOp.sshSessions;
    figures.sshReleaseS = Number(release.wallS);
    figures.sshReleaseOverheadS = Number(release.finishS);
    figures.sshReleaseSessions = release.sshSessions;
    figures.sshSwitchToTrafficMedianS = round(median(toTraffic), 2);
    figures.sshSessionMs = round(median(handshakes), 1);
    await stack.pulumi(["state", "unprotect", "--all", "--yes"]);
    const destroyed = await stack.pulumi(["destroy", "--yes", "--skip-preview"], 600_000);
    if (destroyed.code !== 0) console.error(destroyed.output);
    stack.dispose();
  } finally {
    await vps.stop();
  }
}

/** Native slots (Psychic Homily's stage file) on the systemd host: a release is upload, unit restart and gate. */
async function underSystemd(rows: Row[], figures: Record<string, number>): Promise<void> {
  const host = await startSystemdHost({ sshPort: 2297, name: "switchyard-bench-systemd" });
  try {
    const stack = await newNativeExampleStack(
      host,
      "bench-native",
      { httpPort: 8186, checkPort: 18680, loopbackPorts: { blue: 18681, green: 18682 } },
      { database: 18683, redis: 18684 },
    );
    try {
      const up = () => timedUpdate(stack, ["up", "--yes", "--skip-preview"]);
      rows.push(plainRow("systemd: first deploy", await up(), "app-green-gate"));
      updateStackFile(stack, {
        slots: { green: { binary: path.join(layout.bin, "native-app"), version: "1.12.2" } },
      });
      const release = plainRow("systemd: idle release", await up(), "app-green-gate");
      rows.push(release);
      figures.systemdReleaseS = Number(release.wallS);
      figures.systemdReleaseGateS = Number(release.windowS);
      figures.systemdReleaseOverheadS = Number(release.finishS);
    } finally {
      await teardownKeptStack(stack);
    }
  } finally {
    await host.stop();
  }
}

export default async function bench(): Promise<BenchReport> {
  const stack = await newDevStack();
  const rows: Row[] = [];
  const figures: Record<string, number> = {};
  try {
    const first = await timedUpdate(stack, ["up", "--yes", "--skip-preview"]);
    rows.push(plainRow("first deploy", first, "app-blue-gate"));
    rows.push(plainRow("no-op", await timedUpdate(stack, ["up", "--yes", "--skip-preview"])));

    await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", "1.2.0"]);
    const release = await timedUpdate(stack, ["up", "--yes", "--skip-preview"]);
    const releaseRow = plainRow("idle release", release, "app-green-gate");
    rows.push(releaseRow);

    const toTraffic: number[] = [];
    const toTrafficLight: number[] = [];
    for (let round = 0; round <= switchRounds; round++) {
      // The last round with the light probe: the same switch on a machine the load does not share.
      const light = round === switchRounds;
      for (const [slot, answer, other] of [
        ["green", "green 1.2.0", "blue 1.0.0"],
        ["blue", "blue 1.0.0", "green 1.2.0"],
      ] as const) {
        await stack.pulumiChecked(["config", "set", "activeSlot", slot]);
        const operation = `${slot === "green" ? "switch" : "rollback"}${light ? ", light probe" : ""}`;
        const row = switchRow(operation, await upUnderLoad(stack, answer, undefined, light), [answer, other]);
        rows.push(row);
        if (typeof row.toTrafficS === "number") (light ? toTrafficLight : toTraffic).push(row.toTrafficS);
      }
    }

    // The seed flow on the same slots: app-green stopped as their idle slot is, traffic on blue.
    const router = await startBashRouter();
    try {
      await runChecked("docker", ["stop", "app-green"]);
      const probe = new Probe(loadConnections, 0, `http://127.0.0.1:${bashRouterPort}/`);
      let flow: { startedAt: number; reloadedAt: number } | undefined;
      const seen = await whileProbing(probe, async () => {
        flow = await bashFlow(router.dir);
        await delay(2000);
      });
      if (!flow) throw new Error("the bash flow did not run");
      const movedAt = probe.firstTime("green 1.2.0");
      rows.push({
        operation: "bash: start, poll, reload",
        wallS: seconds(flow.reloadedAt - flow.startedAt),
        toTrafficS: seconds(movedAt === undefined ? undefined : movedAt - flow.startedAt),
        cliS: "",
        programStartS: "",
        programAndDiffS: "",
        switchS: seconds(movedAt === undefined ? undefined : movedAt - flow.reloadedAt),
        windowS: "",
        finishS: "",
        lost: Object.values(unexpected(seen, ["blue 1.0.0", "green 1.2.0"])).reduce((sum, n) => sum + n, 0),
        requests: Object.values(seen).reduce((sum, n) => sum + n, 0),
        sshSessions: "",
      });
    } finally {
      await router.stop();
      await run("docker", ["start", "app-green"]);
    }

    const switches = rows.filter((row) => /^(switch|rollback)/.test(String(row.operation)));
    const bash = rows[rows.length - 1];
    figures.firstDeployS = Number(rows[0].wallS);
    figures.noOpS = Number(rows[1].wallS);
    figures.releaseS = Number(releaseRow.wallS);
    figures.releaseGateS = Number(releaseRow.windowS);
    figures.releaseOverheadS = Number(releaseRow.finishS);
    figures.switchToTrafficMedianS = round(median(toTraffic), 2);
    figures.switchLightProbeToTrafficMedianS = round(median(toTrafficLight), 2);
    figures.switchLost = switches.reduce((sum, row) => sum + Number(row.lost), 0);
    figures.bashToTrafficS = Number(bash.toTrafficS);
    figures.bashLost = Number(bash.lost);
    await overSsh(rows, figures);
    await underSystemd(rows, figures);
    figures.sshLost = rows
      .filter((row) => /^ssh: (switch|rollback)$/.test(String(row.operation)))
      .reduce((sum, row) => sum + Number(row.lost), 0);
    return {
      name: "e2e",
      table: rows,
      figures,
      notes: [
        `dev stack, ${loadConnections} keep-alive connections on the router during switches (the load generator shares this machine's cores), or one every 20 ms on "light probe" rows; lost = not a 200 from blue or green`,
        `windowS: the gate (release rows; at least its ${stableForSeconds} s stable window) or the post-switch window (${postSwitchSeconds} s)`,
        "finishS on a release: the update's time outside its gate (engine, plugins, image and container, switchyard)",
        "switch rows: cli (CLI up to its first event), programStart (language host and program up to the first resource), programAndDiff (up to the switch step), switch (to the first request the new slot answers)",
        "systemd rows: Psychic Homily's stage file with native slots (units on a host that boots systemd in a container, over SSH); the release uploads the binary, rewrites the unit and restarts it, then gates it",
        "ssh rows: a stage-shaped stack on the test VPS (network namespace, its own dockerd and sshd), load sent from this machine to its address; sshSessions = sessions its sshd accepted during the update (the Docker provider's ssh and switchyard's executor); sshSessionMs = one connection and authentication by the executor, median of 5",
      ],
    };
  } finally {
    const destroyed = await stack.pulumi(["destroy", "--yes", "--skip-preview"], 600_000);
    if (destroyed.code !== 0) console.error(destroyed.output);
    stack.dispose();
  }
}
