import assert from "node:assert/strict";
/**
 * A real nginx (Debian's) in a throwaway prefix, configured by the project's own renderers:
 * the same main configuration and state directory layout as the router container.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type autocannon from "autocannon";
import {
  type RouterUpstreamInputs,
  type RouterUpstreamOutputs,
  routerUpstreamProvider,
} from "../../components/providers/RouterUpstream";
import type { SlotColour } from "../../infra/config";
import type { RouterServer } from "../../components/providers/routerServer";
import type { SiteAcme } from "../../components/providers/acmeClient";
import { Background, delay, freePort, type RunResult, run } from "./process";
import { type NginxMain, renderNginxMain, renderRouterFiles } from "../../components/providers/nginxConfig";
import {
  type CanaryStickiness,
  renderTlsFiles,
  type RouterSite,
  type Traffic,
} from "../../components/providers/routerState";

export const nginxBinary = "/usr/sbin/nginx";

export interface NginxPrefix {
  dir: string;
  main: NginxMain;
  /** The main configuration nginx runs with, `<dir>/nginx.conf`. */
  mainConfig: string;
  /** nginx and its fixed options, without `-c` (the RouterUpstream `nginx` input). */
  command: string[];
}

/**
 * A prefix directory holding a main configuration rendered by `renderNginxMain`. The load
 * generators used with it (autocannon) ignore `Connection: close` and count the connection
 * nginx then closes as an error, so `keepaliveRequests` is raised past what a test sends, to
 * measure switching and nothing else.
 */
export function makeNginxPrefix(prelude = ""): NginxPrefix {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-nginx-"));
  // Workers run as an unprivileged user when the tests run as root; they must reach the state directory.
  fs.chmodSync(dir, 0o755);
  const main: NginxMain = {
    stateDir: path.join(dir, "state"),
    pidFile: path.join(dir, "nginx.pid"),
    errorLog: path.join(dir, "error.log"),
    accessLog: "off",
    keepaliveRequests: 10_000_000,
  };
  fs.mkdirSync(main.stateDir);
  const mainConfig = path.join(dir, "nginx.conf");
  fs.writeFileSync(mainConfig, prelude + renderNginxMain(main));
  return { dir, main, mainConfig, command: [nginxBinary, "-p", dir] };
}

/** `nginx -t` over a whole configuration: the prefix's main one unless told otherwise. */
export function testConfig(prefix: NginxPrefix, mainConfig = prefix.mainConfig): Promise<RunResult> {
  return run(prefix.command[0], [...prefix.command.slice(1), "-c", mainConfig, "-t"]);
}

/** A self-signed certificate and key, as PEM text. */
export async function selfSignedCertificate(): Promise<{ certificate: string; key: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-tls-"));
  try {
    const result = await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-keyout",
      path.join(dir, "key.pem"),
      "-out",
      path.join(dir, "cert.pem"),
    ]);
    if (result.code !== 0) throw new Error(`openssl failed: ${result.output}`);
    return {
      certificate: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"),
      key: fs.readFileSync(path.join(dir, "key.pem"), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs nginx in the foreground on the prefix; `stop()` ends it and removes the prefix. */
export class NginxServer {
  private readonly process: Background;

  constructor(readonly prefix: NginxPrefix) {
    this.process = new Background(prefix.command[0], [
      ...prefix.command.slice(1),
      "-c",
      prefix.mainConfig,
      "-g",
      "daemon off;",
    ]);
  }

  get output(): string {
    return this.process.output;
  }

  /** Waits until the master has written its pid file, i.e. it is listening. */
  async started(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!fs.existsSync(this.prefix.main.pidFile)) {
      if (!this.process.running) throw new Error(`nginx exited:\n${this.process.output}`);
      if (Date.now() > deadline) throw new Error("nginx did not start");
      await delay(20);
    }
  }

  async stop(): Promise<void> {
    await this.process.stop("SIGQUIT", 3000);
    fs.rmSync(this.prefix.dir, { recursive: true, force: true });
  }
}

/** What a test chooses about the router; the rest comes from the router under test. */
export interface RouterChoice extends Traffic {
  upstreams: Record<SlotColour, string>;
  /** The version the active slot reports on its health path. */
  expectedVersion: string;
  serverName?: string;
  tls?: { certificate: string; key: string };
  /**
   * The certificate comes from an ACME CA instead: the site's account, and the command prefix
   * into its client (RouterUpstream's `acme.exec`).
   */
  acme?: SiteAcme & { exec: string[] };
  /** The post-switch window; short by default so tests stay quick. */
  stableForMs?: number;
  canary?: CanaryStickiness;
  /** The maintenance page to turn on. */
  maintenancePage?: string;
}

/** A choice's ACME account as the site carries it. */
function siteAcme({ exec: _exec, ...acme }: NonNullable<RouterChoice["acme"]>): SiteAcme {
  return acme;
}

/** The site a test router serves for `choice`. */
export function testSite(choice: RouterChoice, listen: RouterSite["listen"], stateDir: string): RouterSite {
  return {
    upstreams: choice.upstreams,
    serverName: choice.serverName ?? "localhost",
    listen,
    tls: choice.tls !== undefined || choice.acme !== undefined,
    ...(choice.acme === undefined ? {} : { acme: siteAcme(choice.acme) }),
    stateDir,
    canary: choice.canary,
    retryAfterSeconds: 30,
  };
}

/** RouterUpstream inputs that apply `choice` to a test router (nginx's or Caddy's) through the local executor. */
export function testRouterInputs(
  choice: RouterChoice,
  router: { server: RouterServer; site: RouterSite; files: Record<string, string> },
): RouterUpstreamInputs {
  return {
    executor: { kind: "local" },
    exec: [],
    server: router.server,
    stateDir: router.site.stateDir,
    files: router.files,
    secretFiles: choice.tls ? renderTlsFiles(choice.tls) : {},
    ...(choice.acme === undefined
      ? {}
      : {
          acme: {
            email: choice.acme.email,
            directory: choice.acme.directory,
            names: choice.acme.names,
            exec: choice.acme.exec,
          },
        }),
    ...(choice.maintenancePage === undefined ? {} : { maintenancePage: choice.maintenancePage }),
    activeSlot: choice.activeSlot,
    canaryWeight: choice.canaryWeight,
    checkHost: "127.0.0.1",
    checkPort: router.site.listen.check,
    path: "/health",
    expectedVersion: choice.expectedVersion,
    stableForMs: choice.stableForMs ?? 300,
    intervalMs: 100,
    timeoutMs: 2000,
    allowDegraded: false,
    smokeChecks: [],
  };
}

/** A real nginx on free loopback ports, running the router's main configuration. */
export class TestRouter {
  readonly server: NginxServer;

  private constructor(
    readonly prefix: NginxPrefix,
    readonly listen: RouterSite["listen"],
  ) {
    this.server = new NginxServer(prefix);
  }

  /** `prelude`: main-level directives put before the rendered main configuration (e.g. `load_module`). */
  static async start(prelude = ""): Promise<TestRouter> {
    const listen = {
      address: "127.0.0.1",
      http: await freePort(),
      https: await freePort(),
      check: await freePort(),
    };
    const router = new TestRouter(makeNginxPrefix(prelude), listen);
    await router.server.started();
    return router;
  }

  /** The public HTTP listener. */
  get url(): string {
    return `http://127.0.0.1:${this.listen.http}`;
  }

  get checkUrl(): string {
    return `http://127.0.0.1:${this.listen.check}`;
  }

  /** RouterUpstream inputs that apply `choice` to this router, through the local executor. */
  inputs(choice: RouterChoice): RouterUpstreamInputs {
    const site = testSite(choice, this.listen, this.prefix.main.stateDir);
    return testRouterInputs(choice, {
      server: {
        kind: "nginx",
        command: this.prefix.command,
        mainConfig: this.prefix.mainConfig,
        // Started as root without a `user` directive, nginx runs its workers as nobody.
        ...(process.getuid?.() === 0 ? { workerUser: "nobody" } : {}),
      },
      site,
      files: renderRouterFiles(this.prefix.main, site),
    });
  }

  /** Pids of the worker processes: a reload replaces them, a switch must not. */
  workerPids(): number[] {
    const master = Number(fs.readFileSync(this.prefix.main.pidFile, "utf8"));
    return fs
      .readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === master;
        } catch {
          // Gone between listing and reading.
          return false;
        }
      })
      .map(Number)
      .sort((a, b) => a - b);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}

/** The RouterUpstream resource as the engine holds it between calls. */
export interface AppliedRouter {
  id: string;
  outs: RouterUpstreamOutputs;
}

/** `create`, called the way the engine does (in process; the serialized form has its own test). */
export async function createRouter(inputs: RouterUpstreamInputs): Promise<AppliedRouter> {
  const created = await routerUpstreamProvider.create?.(inputs);
  if (!created?.outs) throw new Error("create returned no outputs");
  return { id: created.id, outs: created.outs };
}

/** `update` from the last outputs, as the engine does after a diff with changes. */
export async function updateRouter(
  applied: AppliedRouter,
  inputs: RouterUpstreamInputs,
): Promise<AppliedRouter> {
  const updated = await routerUpstreamProvider.update?.(applied.id, applied.outs, inputs);
  if (!updated?.outs) throw new Error("update returned no outputs");
  return { id: applied.id, outs: updated.outs };
}

/** What a keep-alive load saw. Socket errors and timeouts are requests lost outright. */
export interface LoadResult {
  requests: number;
  non2xx: number;
  /** How many answers each status had: which answers the non-2xx were. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  durationSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface RunningLoad {
  /** Stops sending and resolves once every connection has settled. */
  stop(): Promise<LoadResult>;
}

/**
 * The load generator's process: autocannon until SIGTERM, then its result as JSON. A
 * separate process, so the test's own work neither slows the load nor is slowed by it
 * (autocannon's worker-thread mode never finishes once stopped).
 */
const loadScript = `
const autocannon = require(process.argv[1]);
const options = { url: process.argv[2], connections: Number(process.argv[3]), duration: 3600 };
const instance = autocannon(options, (error, result) => {
  if (error) throw error;
  process.stdout.write(JSON.stringify(result));
});
instance.once("response", () => process.stderr.write("running\\n"));
process.on("SIGTERM", () => instance.stop());
`;

/**
 * `count` switches under `connections` keep-alive connections, back and forth from green:
 * `step` makes and checks each one (or tries one that must fail). No request of the load may be
 * lost, and it must have kept flowing: at least one request per connection and switch, so
 * "nothing lost" is about real traffic (not a throughput floor). Returns what each step returned.
 */
export async function switchesUnderLoad<T>(
  url: string,
  { connections, count }: { connections: number; count: number },
  step: (to: SlotColour, index: number) => Promise<T>,
): Promise<T[]> {
  const load = await keepAliveLoad(url, connections);
  const steps: T[] = [];
  try {
    for (let i = 0; i < count; i++) steps.push(await step(i % 2 === 0 ? "green" : "blue", i));
  } finally {
    const result = await load.stop();
    assert.equal(
      result.errors + result.timeouts + result.non2xx,
      0,
      `lost requests: ${JSON.stringify(result)}`,
    );
    assert.ok(result.requests >= connections * count, `the load kept flowing: ${JSON.stringify(result)}`);
  }
  return steps;
}

/** Continuous GETs over `connections` keep-alive connections until `stop()`; resolves once they flow. */
export async function keepAliveLoad(url: string, connections = 32): Promise<RunningLoad> {
  const args = ["-e", loadScript, require.resolve("autocannon"), url, String(connections)];
  // Plain node: the script needs no TypeScript loader.
  const generator = new Background(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: "" } });
  try {
    await generator.waitForOutput(/running/);
  } catch (error) {
    await generator.stop("SIGKILL");
    throw error;
  }
  return {
    async stop() {
      const exit = await generator.stop("SIGTERM", 10_000);
      const json = generator.output.slice(generator.output.indexOf("{"));
      if (exit.code !== 0) throw new Error(`the load generator failed:\n${generator.output}`);
      const finished = JSON.parse(json) as autocannon.Result;
      return {
        requests: finished.requests.total,
        non2xx: finished.non2xx,
        statuses: Object.fromEntries(
          Object.entries(finished.statusCodeStats ?? {}).map(([status, { count }]) => [status, count ?? 0]),
        ),
        errors: finished.errors,
        timeouts: finished.timeouts,
        durationSeconds: finished.duration,
        requestsPerSecond: finished.requests.total / finished.duration,
        p50Ms: finished.latency.p50,
        p99Ms: finished.latency.p99,
      };
    },
  };
}
