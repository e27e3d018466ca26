/**
 * What the HealthGate provider takes, and what is wrong with it: the inputs (documented here;
 * the resource's arguments are derived from them), their checks, and the gate they ask for.
 */
import { type ExecutorSpec, executorSpecProblems } from "./executor";
import { type GateSpec, gateSpecProblems } from "./healthGate";
import { hostReason, type InputProblem, isHost, isPort, portReason } from "./inputs";

/** Inputs as the provider receives them: every value resolved, the ssh key in plain text. */
export interface HealthGateInputs extends Omit<GateSpec, "url" | "headers"> {
  /** Where to look from: `executorSpecFor(target, sshPrivateKey)`; an ssh spec holds a secret key. */
  executor: ExecutorSpec;
  /**
   * Where the health endpoint listens, as seen from the target: `127.0.0.1`, the slot's
   * loopback port, `health.path`.
   */
  host: string;
  port: number;
  path: string;
  /**
   * What the gate vouches for, e.g. `{ image: imageId, container: container.id }` (image id,
   * container id, ...); any change re-runs it.
   */
  guards: string | Record<string, string>;
}

/** The health endpoint's URL; an IPv6 host in brackets. */
export function urlOf(host: string, port: number, path: string): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
}

/** The gate the inputs ask for, at `url` (where the endpoint is reached from here). */
export function specOf(inputs: HealthGateInputs, url: string): GateSpec {
  const { expectedVersion, intervalMs, timeoutMs, deadlineMs, successesNeeded, stableForMs } = inputs;
  const { allowDegraded, smokeChecks } = inputs;
  return {
    url,
    expectedVersion,
    intervalMs,
    timeoutMs,
    deadlineMs,
    successesNeeded,
    stableForMs,
    allowDegraded,
    smokeChecks,
  };
}

/** What is wrong with the inputs, by the input a user set; `checked` drops what a preview does not know. */
export function gateInputProblems(news: HealthGateInputs): InputProblem[] {
  const problems = executorSpecProblems(news.executor);
  if (!isHost(news.host)) problems.push({ property: "host", reason: hostReason(news.host) });
  if (!isPort(news.port)) problems.push({ property: "port", reason: portReason(news.port) });
  if (typeof news.path !== "string" || !/^\/\S*$/.test(news.path))
    problems.push({
      property: "path",
      reason: `expected a path starting with /, got ${JSON.stringify(news.path)}`,
    });
  const guards = news.guards;
  const guardsReadable =
    typeof guards === "string"
      ? guards !== ""
      : !!guards &&
        typeof guards === "object" &&
        !Array.isArray(guards) &&
        Object.keys(guards).length > 0 &&
        Object.values(guards).every((value) => typeof value === "string");
  if (!guardsReadable)
    problems.push({
      property: "guards",
      reason: "expected a non-empty string or a non-empty map of strings",
    });
  // host, port and path make the URL, and have been checked above in their own names.
  const placeholder = "http://127.0.0.1:1/";
  return [...problems, ...gateSpecProblems(specOf(news, placeholder)).filter((p) => p.property !== "url")];
}
