/**
 * What the RouterUpstream provider takes, and what is wrong with it: the inputs (documented here,
 * the resource's arguments are derived from them) and their checks, by the input a user set.
 */
import { type RouterKind, routerKinds, type SlotColour } from "../../infra/stackKeys";
import { type ExecutorSpec, executorSpecProblems } from "./executor";
import { type GateSpec, gateSpecProblems, type SmokeCheck } from "./healthGate";
import { hostReason, type InputProblem, isHost, isKnown, isPort, portReason } from "./inputs";
import type { AcmeSettings } from "./acmeClient";
import { certificatePairProblems } from "./certificatePair";
import { type RouterServer, serverCommands } from "./routerServer";
import { certificateFiles } from "./routerState";

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
export interface RouterUpstreamInputs extends RouterVerification {
  /** Where commands run: `executorSpecFor(target, sshPrivateKey)`; an ssh spec holds a secret key. */
  executor: ExecutorSpec;
  /**
   * Runs a command where the router's server and its files are: `["docker", "exec", "-i",
   * "router"]`, or `[]` on the same machine.
   */
  exec: string[];
  /** What serves the state directory, nginx or Caddy, and how to reach it (routerServer.ts). */
  server: RouterServer;
  /** The state directory (routerState.ts), as the server sees it. */
  stateDir: string;
  /** The site generation: `renderRouterFiles(...)` for nginx, `renderCaddyFiles(...)` for Caddy. */
  files: Record<string, string>;
  /**
   * The certificate: `renderTlsFiles(...)`, or `{}` without TLS. Kept secret, and written outside
   * the generation, 0600, where workers read it per handshake: changing it reloads nothing.
   */
  secretFiles: Record<string, string>;
  /**
   * Set when the certificate comes from the ACME client (acmeClient.ts) rather than `secretFiles`:
   * `exec` runs a command in the client's container (`["docker", "exec", "-i", "router-acme"]`);
   * the account and names are what the certificate is for, so a change asks the CA for a new one.
   */
  acme?: Pick<AcmeSettings, "email" | "directory" | "names"> & { exec: string[] };
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

/** The ACME client's part: a command prefix, an account and host names, and no pasted certificate. */
function acmeProblems(acme: NonNullable<RouterUpstreamInputs["acme"]>, secretFiles: unknown): InputProblem[] {
  const problems: InputProblem[] = [];
  if (!isStringList(acme.exec) || acme.exec.length === 0)
    problems.push({
      property: "acme.exec",
      reason: "expected the command prefix into the ACME client's container",
    });
  if (!isStringList(acme.names) || acme.names.length === 0 || !acme.names.every(isHost))
    problems.push({ property: "acme.names", reason: "expected the host names the certificate covers" });
  for (const key of ["email", "directory"] as const)
    if (typeof acme[key] !== "string" || acme[key].length === 0)
      problems.push({ property: `acme.${key}`, reason: "expected text" });
  if (secretFiles && typeof secretFiles === "object" && Object.keys(secretFiles).length > 0)
    problems.push({
      property: "secretFiles",
      reason: "the certificate comes from the ACME client: expected {}",
    });
  return problems;
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

function isAbsolutePath(value: unknown): boolean {
  return typeof value === "string" && safePath.test(value) && value !== "/";
}

function absolutePathReason(value: unknown): string {
  return `expected an absolute path of letters, digits, . _ - /, got ${JSON.stringify(value)}`;
}

function isKind(value: unknown): value is RouterKind {
  return routerKinds.includes(value as RouterKind);
}

/** The server's settings, by kind. */
function serverProblems(server: RouterServer | undefined): InputProblem[] {
  if (!server || !isKind(server.kind))
    return [{ property: "server.kind", reason: `expected one of ${routerKinds.join(", ")}` }];
  const problems: InputProblem[] = [];
  const path = (key: string, value: unknown) => {
    if (!isAbsolutePath(value))
      problems.push({ property: `server.${key}`, reason: absolutePathReason(value) });
  };
  if (!isStringList(server.command) || server.command.length === 0)
    problems.push({
      property: "server.command",
      reason: `expected the ${server.kind} command, e.g. ["${server.kind}"]`,
    });
  switch (server.kind) {
    case "nginx":
      path("mainConfig", server.mainConfig);
      if (server.workerUser !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(server.workerUser))
        problems.push({ property: "server.workerUser", reason: "expected a user name such as nginx" });
      break;
    case "caddy": {
      path("bootConfig", server.bootConfig);
      const socket = typeof server.adminAddress === "string" && server.adminAddress.startsWith("unix//");
      if (!socket || !isAbsolutePath(server.adminAddress.slice("unix/".length)))
        problems.push({
          property: "server.adminAddress",
          reason: "expected Caddy's admin socket, unix//<absolute path>",
        });
      break;
    }
  }
  return problems;
}

/** What is wrong with the inputs, by the input a user set; `checked` drops what a preview does not know. */
export function routerInputProblems(news: RouterUpstreamInputs): InputProblem[] {
  const problems = executorSpecProblems(news.executor);
  if (!isStringList(news.exec))
    problems.push({ property: "exec", reason: "expected a command prefix (a list of words), [] for none" });
  problems.push(...serverProblems(news.server));
  if (!isAbsolutePath(news.stateDir))
    problems.push({ property: "stateDir", reason: absolutePathReason(news.stateDir) });
  const siteFiles = isKind(news.server?.kind) ? serverCommands(news.server, "/").siteFiles : [];
  problems.push(...filesProblems("files", news.files, siteFiles));
  problems.push(
    ...filesProblems("secretFiles", news.secretFiles, []),
    ...certificateProblems(news.secretFiles),
  );
  if (news.acme !== undefined) problems.push(...acmeProblems(news.acme, news.secretFiles));
  if (
    news.maintenancePage !== undefined &&
    typeof news.maintenancePage !== "string" &&
    isKnown(news.maintenancePage)
  )
    problems.push({ property: "maintenancePage", reason: "expected the page's HTML" });
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
