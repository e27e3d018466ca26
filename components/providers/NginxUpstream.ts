/**
 * NginxUpstream: what the router serves and where its traffic goes, applied to a running nginx
 * without dropping a request (see nginxConfig.ts for the mechanism and its measurements).
 *
 * An update applies a changed site generation (write beside the live one, `nginx -t` the whole
 * configuration, swap the `current` link, reload once), then moves traffic by swapping the
 * `live` link, then watches the router's check listener for the post-switch window. If the
 * router does not hold, everything the update changed is put back and the update fails, so
 * Pulumi's state and what is live agree. `read` reports the live pointer, so `pulumi refresh`
 * finds a switch made by hand.
 */
import { performance } from "node:perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import type { SlotColour } from "../../infra/config";
import {
  type Executor,
  type ExecutorSpec,
  executorSpecProblems,
  executorTarget,
  runChecked,
  withExecutor,
} from "./executor";
import {
  type GateSpec,
  gateSpecProblems,
  httpGet,
  type SmokeCheck,
  type TryOutcome,
  tryOnce,
} from "./healthGate";
import {
  type ArgsOf,
  canonical,
  checked,
  errorMessage,
  type InputProblem,
  isKnown,
  isPort,
  portReason,
  providerError,
} from "./inputs";
import {
  forGeneration,
  generationId,
  generationProbePath,
  idleSlot,
  parseRoute,
  routeName,
  routerCommands,
  routerLayout,
  siteFile,
  type Traffic,
  testMainFile,
} from "./nginxConfig";
import { firstPollDelayMs, type PollStep, type PollVerdict, pollUntil } from "./poll";

/** The post-switch check, through the router's check listener (which serves the pointer's active slot). */
export interface RouterVerification {
  /** The check listener as seen from the target, e.g. 127.0.0.1 and its loopback port. */
  checkHost: string;
  checkPort: number;
  /** The app's health path. */
  path: string;
  /** The version the active slot must report through the router. */
  expectedVersion: string;
  /**
   * The post-switch window (`health.postSwitchStableForSeconds`): how long it must keep passing
   * after the switch; one failure inside it switches back.
   */
  stableForMs: number;
  intervalMs: number;
  timeoutMs: number;
  allowDegraded: boolean;
  smokeChecks: SmokeCheck[];
}

/** Inputs as the provider receives them: every value resolved, secrets in plain text. */
export interface NginxUpstreamInputs extends RouterVerification {
  /** Where commands run: `executorSpecFor(target, sshPrivateKey)`; an ssh spec holds a secret key. */
  executor: ExecutorSpec;
  /**
   * Runs a command where nginx and its files are: `["docker", "exec", "-i", "router"]`, or `[]`
   * on the same machine.
   */
  exec: string[];
  /** nginx and its fixed options, without `-c`: `["nginx"]`, or `["/usr/sbin/nginx", "-p", prefix]`. */
  nginx: string[];
  /**
   * The main configuration nginx runs with (`renderNginxMain`, which includes the `current`
   * generation), e.g. `/etc/nginx/nginx.conf`.
   */
  mainConfig: string;
  /** `NginxMain.stateDir`, as nginx sees it. */
  stateDir: string;
  /** The site generation: `renderRouterFiles(...)`. */
  files: Record<string, string>;
  /** `renderTlsFiles(...)`, or `{}`: kept secret, written with mode 0600. */
  secretFiles: Record<string, string>;
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot. */
  canaryWeight: number;
}

/** State: the inputs but the files (the generation id stands for them), and what was verified. */
export interface NginxUpstreamOutputs extends Omit<
  NginxUpstreamInputs,
  "files" | "secretFiles" | "activeSlot"
> {
  /** Undefined only when `read` found no traffic pointer. */
  activeSlot: SlotColour | undefined;
  /** The live site generation. */
  generation: string | undefined;
  /** When the router last held the post-switch window, and on which version. */
  verifiedAt: string;
  verifiedVersion: string;
}

/** Inputs a diff compares one by one; the files are compared by their generation id. */
const inputKeys = [
  "activeSlot",
  "canaryWeight",
  "executor",
  "exec",
  "nginx",
  "mainConfig",
  "stateDir",
  "checkHost",
  "checkPort",
  "path",
  "expectedVersion",
  "stableForMs",
  "intervalMs",
  "timeoutMs",
  "allowDegraded",
  "smokeChecks",
] as const;

/** What is live on the router: the targets of its two links. */
interface Live {
  /** `routes/<name>`, or undefined without a pointer. */
  route: string | undefined;
  /** `sites/<id>`, or undefined before the first site. */
  site: string | undefined;
}

const commandTimeoutMs = 60_000;
/** How long nginx may take to load a new generation after `nginx -s reload` returned. */
const reloadTimeoutMs = 15_000;

/** Relative file names inside a generation, never escaping it. */
const relativeFile = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
/** Goes into nginx configuration unquoted. */
const safePath = /^\/[A-Za-z0-9._/-]*$/;

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((word) => typeof word === "string");
}

function filesProblems(property: string, files: unknown, required: string[]): InputProblem[] {
  if (!files || typeof files !== "object" || Array.isArray(files))
    return [{ property, reason: "expected a map of relative file name to content" }];
  const problems: InputProblem[] = [];
  for (const [name, content] of Object.entries(files)) {
    if (!relativeFile.test(name))
      problems.push({
        property: `${property}.${name}`,
        reason: "expected a relative path inside the generation",
      });
    if (typeof content !== "string" && isKnown(content))
      problems.push({ property: `${property}.${name}`, reason: "expected text" });
  }
  for (const name of required) {
    if (!(name in files)) problems.push({ property, reason: `must contain ${name} (renderRouterFiles)` });
  }
  return problems;
}

function verificationSpec(verify: RouterVerification, url: string): GateSpec {
  return {
    url,
    expectedVersion: verify.expectedVersion,
    intervalMs: verify.intervalMs,
    timeoutMs: verify.timeoutMs,
    // Whole-gate settings a single try ignores; set to what the watch amounts to.
    deadlineMs: verify.stableForMs + verify.timeoutMs,
    successesNeeded: 1,
    stableForMs: verify.stableForMs,
    allowDegraded: verify.allowDegraded,
    smokeChecks: verify.smokeChecks,
  };
}

/**
 * Watches the router for the post-switch window and resolves with the time it held: every try
 * must pass, from the first one on. Unlike a slot's gate (`waitUntilStable`, where a failure
 * restarts the window), a switch that fails once while users are on it is a switch to undo.
 * Tries follow the gate's loop (poll.ts), so an early failure is caught early.
 */
async function holdThroughRouter(
  spec: GateSpec,
  what: string,
  log: (message: string) => void,
): Promise<string> {
  const started = performance.now();
  log(
    `watching ${spec.url} for ${spec.stableForMs} ms: every check must pass on version ${spec.expectedVersion}`,
  );
  const judge = ({ attempt: outcome, tries: checks, now }: PollStep<TryOutcome>): PollVerdict<string> => {
    const elapsed = now - started;
    if (!outcome.passed) {
      throw providerError(
        "RouterDidNotHold",
        `the router did not hold ${what} on version ${spec.expectedVersion} ` +
          `for ${spec.stableForMs} ms after the switch: ` +
          `check ${checks}, ${Math.round(elapsed)} ms in, saw ${outcome.seen}`,
      );
    }
    if (elapsed >= spec.stableForMs) {
      log(`held for ${Math.round(elapsed)} ms over ${checks} checks`);
      return { done: new Date().toISOString() };
    }
    return { waitAtMostMs: spec.stableForMs - elapsed };
  };
  return pollUntil(
    { intervalMs: spec.intervalMs, startedAt: started },
    () => tryOnce(spec, spec.timeoutMs),
    judge,
  );
}

function verificationProblems(v: RouterVerification): InputProblem[] {
  const problems: InputProblem[] = [];
  if (typeof v.checkHost !== "string" || !/^[A-Za-z0-9.:-]+$/.test(v.checkHost))
    problems.push({
      property: "checkHost",
      reason: `expected a host name or IP address, got ${JSON.stringify(v.checkHost)}`,
    });
  if (!isPort(v.checkPort)) problems.push({ property: "checkPort", reason: portReason(v.checkPort) });
  const path = typeof v.path === "string" ? v.path : "";
  for (const problem of gateSpecProblems(verificationSpec(v, `http://127.0.0.1:1${path}`))) {
    // The URL is made of checkHost, checkPort and path; the first two are checked above.
    const property = problem.property === "url" ? "path" : problem.property;
    // Derived here, not inputs.
    if (property === "deadlineMs" || property === "successesNeeded") continue;
    problems.push({ property, reason: problem.reason });
  }
  return problems;
}

function inputProblems(news: NginxUpstreamInputs): InputProblem[] {
  const problems = executorSpecProblems(news.executor);
  if (!isStringList(news.exec))
    problems.push({ property: "exec", reason: "expected a command prefix (a list of words), [] for none" });
  if (!isStringList(news.nginx) || news.nginx.length === 0)
    problems.push({ property: "nginx", reason: 'expected the nginx command, e.g. ["nginx"]' });
  for (const key of ["mainConfig", "stateDir"] as const) {
    const value = news[key];
    if (typeof value !== "string" || !safePath.test(value) || value === "/")
      problems.push({
        property: key,
        reason: `expected an absolute path of letters, digits, . _ - /, got ${JSON.stringify(value)}`,
      });
  }
  problems.push(...filesProblems("files", news.files, [siteFile, testMainFile]));
  problems.push(...filesProblems("secretFiles", news.secretFiles, []));
  if (news.activeSlot !== "blue" && news.activeSlot !== "green")
    problems.push({
      property: "activeSlot",
      reason: `expected blue or green, got ${JSON.stringify(news.activeSlot)}`,
    });
  const weight = news.canaryWeight;
  if (!Number.isInteger(weight) || weight < 0 || weight > 100)
    problems.push({
      property: "canaryWeight",
      reason: `expected a whole percent 0-100, got ${JSON.stringify(news.canaryWeight)}`,
    });
  problems.push(...verificationProblems(news));
  return problems;
}
function describeTraffic(traffic: Traffic | undefined): string {
  if (!traffic) return "no slot (the router answers 503)";
  if (traffic.canaryWeight === 0) return traffic.activeSlot;
  return `${traffic.activeSlot} with ${traffic.canaryWeight}% canary to ${idleSlot(traffic.activeSlot)}`;
}

/** The router as one update sees it: commands through the executor and prefix, and its check listener. */
class RouterSession {
  constructor(
    private readonly executor: Executor,
    private readonly inputs: Pick<NginxUpstreamInputs, "exec" | "nginx" | "mainConfig" | "stateDir">,
    private readonly checkUrl: string,
  ) {}

  run(argv: string[], stdin?: string) {
    return runChecked(this.executor, [...this.inputs.exec, ...argv], { stdin, timeoutMs: commandTimeoutMs });
  }

  nginx(args: string[]) {
    return this.executor.run([...this.inputs.exec, ...this.inputs.nginx, ...args], {
      timeoutMs: commandTimeoutMs,
    });
  }

  /** Whether anything answers where the router runs: `docker exec` fails when its container is gone or stopped. */
  async present(): Promise<boolean> {
    return (
      (await this.executor.run([...this.inputs.exec, "true"], { timeoutMs: commandTimeoutMs })).exitCode === 0
    );
  }

  async live(): Promise<Live> {
    const { stdout } = await this.run(routerCommands.readPointers(this.inputs.stateDir));
    const value = (key: string) => {
      const line = stdout.split("\n").find((each) => each.startsWith(`${key}=`));
      const target = line?.slice(key.length + 1).trim();
      return target ? target : undefined;
    };
    return { route: value("live"), site: value("current") };
  }

  /** Writes a generation, has nginx test it whole; on refusal removes it and fails with nginx's words. */
  async stage(id: string, files: Record<string, string>, secretFiles: Record<string, string>): Promise<void> {
    const dir = `${routerLayout(this.inputs.stateDir).sites}/${id}`;
    for (const [name, content] of Object.entries(files)) {
      await this.run(routerCommands.writeFile(`${dir}/${name}`, "022"), forGeneration(content, dir));
    }
    for (const [name, content] of Object.entries(secretFiles)) {
      await this.run(routerCommands.writeFile(`${dir}/${name}`, "077"), content);
    }
    const test = await this.nginx(["-t", "-c", `${dir}/${testMainFile}`]);
    if (test.exitCode !== 0) {
      await this.run(["rm", "-rf", dir]);
      throw providerError(
        "NginxRefused",
        "nginx refused the new router configuration; the live one is untouched and still serving:\n" +
          test.stderr.trim(),
      );
    }
  }

  /** Makes `site` (`sites/<id>`, or none) the live generation and waits until nginx serves it. */
  async goLive(site: string | undefined): Promise<void> {
    await this.run(routerCommands.pointLink(this.inputs.stateDir, "current", site));
    const reload = await this.nginx(["-c", this.inputs.mainConfig, "-s", "reload"]);
    if (reload.exitCode !== 0) {
      throw providerError("NginxReloadFailed", `nginx -s reload failed:\n${reload.stderr.trim()}`);
    }
    if (site === undefined) return;
    const expected = `${this.inputs.stateDir}/${site}`;
    const url = new URL(generationProbePath, this.checkUrl).toString();
    const probe = async () => {
      const answer = await httpGet(url, undefined, 2000).catch(() => undefined);
      if (answer?.statusCode === 200 && answer.body === expected) return { state: "loaded" };
      return { state: answer ? `HTTP ${answer.statusCode} ${answer.body.slice(0, 100)}` : "no answer" };
    };
    // Every 50 ms: the loop's first wait, and its longest.
    await pollUntil({ intervalMs: firstPollDelayMs }, probe, ({ attempt, startedAt, now }) => {
      if (attempt.state === "loaded") return { done: undefined };
      if (now - startedAt > reloadTimeoutMs) {
        throw providerError(
          "NginxReloadFailed",
          `nginx did not load ${expected} within ${reloadTimeoutMs} ms after the reload ` +
            `(its check listener gave: ${attempt.state}); see nginx's error log`,
        );
      }
      return { waitAtMostMs: Infinity };
    });
  }

  point(traffic: Traffic) {
    return this.run(routerCommands.pointTraffic(this.inputs.stateDir, traffic));
  }

  restoreRoute(route: string | undefined) {
    return this.run(routerCommands.pointLink(this.inputs.stateDir, "live", route));
  }
}

/** Puts the links an update moved back where they were (reloading for the site); says what it did. */
async function putBack(
  router: RouterSession,
  before: Live,
  moved: { site: boolean; traffic: boolean },
): Promise<string> {
  const done: string[] = [];
  if (moved.traffic) {
    await router.restoreRoute(before.route);
    done.push(`traffic is on ${describeTraffic(before.route ? parseRoute(before.route) : undefined)} again`);
  }
  if (moved.site) {
    await router.goLive(before.site);
    done.push(
      before.site ? "the previous configuration is live again" : "no configuration is live, as before",
    );
  }
  return done.join("; ");
}

/** Applies the inputs to the router and verifies; on any failure puts back what it changed. */
async function apply(
  inputs: NginxUpstreamInputs,
  olds: NginxUpstreamOutputs | undefined,
): Promise<NginxUpstreamOutputs> {
  const id = generationId(inputs.files, inputs.secretFiles);
  const site = `sites/${id}`;
  const traffic: Traffic = { activeSlot: inputs.activeSlot, canaryWeight: inputs.canaryWeight };
  const log = (message: string) => process.stderr.write(`router ${inputs.stateDir}: ${message}\n`);

  return withExecutor(inputs.executor, async (executor) => {
    const forwarded = await executor.forward(inputs.checkHost, inputs.checkPort);
    try {
      const checkUrl = `http://${forwarded.host}:${forwarded.port}`;
      const router = new RouterSession(executor, inputs, checkUrl);
      const before = await router.live();
      const siteChanged = before.site !== site;
      const trafficChanged = before.route !== `routes/${routeName(traffic)}`;
      const previous = before.route ? parseRoute(before.route) : undefined;
      // A switch (not a canary weight, not a repair of the same slot) holds the previous slot as
      // a fallback for the post-switch window.
      const switching =
        trafficChanged && previous !== undefined && previous.activeSlot !== traffic.activeSlot;
      const moved = { site: false, traffic: false };
      let verifiedAt: string | undefined;
      try {
        if (siteChanged) {
          await router.stage(id, inputs.files, inputs.secretFiles);
          log(`configuration ${id} passed nginx -t; reloading`);
          moved.site = true;
          await router.goLive(site);
        }
        if (trafficChanged) {
          moved.traffic = true;
          await router.point(switching ? { ...traffic, fallback: true } : traffic);
          log(
            `traffic now goes to ${describeTraffic(traffic)}` +
              (switching ? `, falling back to ${previous?.activeSlot} for the post-switch window` : ""),
          );
        }
        if (siteChanged || trafficChanged || olds?.expectedVersion !== inputs.expectedVersion) {
          const spec = verificationSpec(inputs, `${checkUrl}${inputs.path}`);
          verifiedAt = await holdThroughRouter(spec, describeTraffic(traffic), (message) =>
            log(`post-switch check: ${message}`),
          );
        }
        if (switching) await router.point(traffic);
      } catch (error) {
        if (!moved.site && !moved.traffic) throw error;
        const name = error instanceof Error ? error.name : "RouterSwitchFailed";
        let undone: string;
        try {
          undone = await putBack(router, before, moved);
        } catch (undoError) {
          const why = errorMessage(undoError);
          throw providerError(name, `${errorMessage(error)}; putting the router back failed too: ${why}`);
        }
        throw providerError(name, `${errorMessage(error)}. Switched back: ${undone}.`);
      }
      if (siteChanged) await router.run(routerCommands.pruneSites(inputs.stateDir, id));

      const { files: _files, secretFiles: _secretFiles, ...kept } = inputs;
      return {
        ...kept,
        generation: id,
        verifiedAt: verifiedAt ?? olds?.verifiedAt ?? "",
        verifiedVersion: verifiedAt ? inputs.expectedVersion : (olds?.verifiedVersion ?? ""),
      };
    } finally {
      await forwarded.close();
    }
  });
}

/**
 * Thin on purpose: check validates, diff says what changed (nothing replaces but the state
 * directory), create and update apply and verify, read reports the live pointer, delete
 * removes the state directory's contents. Routing reads the pointer per request, so after a
 * delete the router answers 503 at once; a container started later serves nothing stale.
 */
export const nginxUpstreamProvider: pulumi.dynamic.ResourceProvider<
  NginxUpstreamInputs,
  NginxUpstreamOutputs
> = {
  async check(_olds, news) {
    return checked(news, inputProblems(news));
  },

  async diff(_id, olds, news) {
    const changes: string[] = [];
    if (generationId(news.files, news.secretFiles) !== olds.generation) changes.push("files");
    for (const key of inputKeys) {
      if (canonical(olds[key]) !== canonical(news[key])) changes.push(key);
    }
    // A new state directory is a new router state: the new one is written before the old one goes.
    const replaces = changes.filter((key) => key === "stateDir");
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: false };
  },

  async create(inputs) {
    const outs = await apply(inputs, undefined);
    return { id: `${executorTarget(inputs.executor)}:${inputs.stateDir}`, outs };
  },

  async update(_id, olds, news) {
    return { outs: await apply(news, olds) };
  },

  async read(id, props) {
    if (!props?.executor) throw new Error(`${id}: reading needs the state this resource was created with`);
    const state = props;
    const live = await withExecutor(state.executor, async (executor) => {
      const router = new RouterSession(executor, state, "http://127.0.0.1");
      return (await router.present()) ? router.live() : undefined;
    });
    // No router to serve it (its container removed or stopped), or nothing of its state left:
    // the resource is gone, and the next `up` applies it again to the router it recreates.
    if (live === undefined || (live.route === undefined && live.site === undefined)) return {};
    const traffic = live.route ? parseRoute(live.route) : undefined;
    // The engine refuses an undefined property ("Unexpected struct type"): a missing pointer or
    // site (a router that started without one) is a missing key, which the next diff sees.
    const { activeSlot: _activeSlot, generation: _generation, ...kept } = state;
    return {
      id,
      props: {
        ...kept,
        canaryWeight: traffic?.canaryWeight ?? 0,
        ...(traffic ? { activeSlot: traffic.activeSlot } : {}),
        ...(live.site ? { generation: live.site.replace(/^sites\//, "") } : {}),
      } as NginxUpstreamOutputs,
    };
  },

  async delete(_id, olds) {
    await withExecutor(olds.executor, (executor) =>
      runChecked(executor, [...olds.exec, ...routerCommands.removeState(olds.stateDir)], {
        timeoutMs: commandTimeoutMs,
      }),
    );
  },
};

/** The resource's arguments: the provider's inputs, each one an Input. */
export type NginxUpstreamArgs = ArgsOf<NginxUpstreamInputs>;

/** The router's live configuration and traffic pointer; see the file comment. */
export class NginxUpstream extends pulumi.dynamic.Resource {
  declare readonly activeSlot: pulumi.Output<SlotColour>;
  declare readonly canaryWeight: pulumi.Output<number>;
  /** The live site generation id. */
  declare readonly generation: pulumi.Output<string>;
  /** When the router last held the post-switch window, and on which version. */
  declare readonly verifiedAt: pulumi.Output<string>;
  declare readonly verifiedVersion: pulumi.Output<string>;

  constructor(name: string, args: NginxUpstreamArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      nginxUpstreamProvider,
      name,
      {
        ...args,
        // The ssh key travels inside `executor`, the TLS key inside `secretFiles`.
        executor: pulumi.secret(args.executor),
        secretFiles: pulumi.secret(args.secretFiles),
        generation: undefined,
        verifiedAt: undefined,
        verifiedVersion: undefined,
      },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "executor"] },
      "switchyard",
      "NginxUpstream",
    );
  }
}
