/**
 * What the NginxUpstream provider takes, and what is wrong with it: the inputs (documented here,
 * the resource's arguments are derived from them) and their checks, by the input a user set.
 */
import type { SlotColour } from "../../infra/config";
import { type ExecutorSpec, executorSpecProblems } from "./executor";
import { type GateSpec, gateSpecProblems, type SmokeCheck } from "./healthGate";
import { hostReason, type InputProblem, isHost, isKnown, isPort, portReason } from "./inputs";
import { certificatePairProblems } from "./certificatePair";
import { certificateFiles, siteFile, testMainFile } from "./nginxConfig";

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
  /**
   * The certificate: `renderTlsFiles(...)`, or `{}` without TLS. Kept secret, and written outside
   * the generation, 0600, where workers read it per handshake: changing it reloads nothing.
   */
  secretFiles: Record<string, string>;
  /** The user nginx's workers run as, which must read the certificate's key; none when nginx runs unprivileged. */
  workerUser?: string;
  /** The maintenance page (`renderMaintenancePage`) while maintenance is on; absent otherwise. */
  maintenancePage?: string;
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot. */
  canaryWeight: number;
}

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

/** The certificate's files: none, or a chain and its key that belong together. */
function certificateProblems(files: unknown): InputProblem[] {
  if (!files || typeof files !== "object" || Object.keys(files).length === 0) return [];
  const bag = files as Record<string, unknown>;
  const expected: string[] = [certificateFiles.chain, certificateFiles.key];
  const names = Object.keys(bag).sort();
  if (names.join() !== [...expected].sort().join())
    return [
      { property: "secretFiles", reason: `expected exactly ${expected.join(" and ")} (renderTlsFiles)` },
    ];
  const chain = bag[certificateFiles.chain];
  const key = bag[certificateFiles.key];
  if (typeof chain !== "string" || typeof key !== "string") return [];
  return certificatePairProblems(chain, key).map((reason) => ({ property: "secretFiles", reason }));
}

/** What the watch checks through the router, as a gate: one try is judged as a gate judges it. */
export function verificationSpec(verify: RouterVerification, url: string): GateSpec {
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

function verificationProblems(v: RouterVerification): InputProblem[] {
  const problems: InputProblem[] = [];
  if (!isHost(v.checkHost)) problems.push({ property: "checkHost", reason: hostReason(v.checkHost) });
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

/** What is wrong with the inputs, by the input a user set; `checked` drops what a preview does not know. */
export function routerInputProblems(news: NginxUpstreamInputs): InputProblem[] {
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
  problems.push(
    ...filesProblems("secretFiles", news.secretFiles, []),
    ...certificateProblems(news.secretFiles),
  );
  if (
    news.maintenancePage !== undefined &&
    typeof news.maintenancePage !== "string" &&
    isKnown(news.maintenancePage)
  )
    problems.push({ property: "maintenancePage", reason: "expected the page's HTML" });
  if (news.workerUser !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(news.workerUser))
    problems.push({ property: "workerUser", reason: "expected a user name such as nginx" });
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
