/**
 * The health gate: polls a health endpoint until the app is healthy, runs the expected version,
 * and stays so for a stable-for window. No Pulumi here: the HealthGate provider calls
 * `waitUntilStable`, and the router's post-switch watch judges the same tries (`tryOnce`).
 *
 * Polling is poll.ts's loop: it starts fast and backs off slowly, so a gate notices an app
 * turning healthy within roughly a tenth of how long the app took (plus 50 ms) instead of up to
 * a whole fixed interval later, while the number of requests grows only with the logarithm of
 * the wait.
 */
import * as http from "node:http";
import * as https from "node:https";
import { performance } from "node:perf_hooks";
import type { ParsedStackConfig } from "../../infra/config";
import { type InputProblem, throwIfProblems } from "./inputs";
import { type PollStep, type PollVerdict, pollUntil } from "./poll";
import {
  type HealthReport,
  type HealthResponse,
  maxHealthBodyBytes,
  parseHealthResponse,
} from "./healthStatus";

export interface SmokeCheck {
  /** Path on the same origin as the health URL, starting with `/`. */
  path: string;
  /** The status code it must answer with. */
  status: number;
}

export interface GateSpec {
  /** Health endpoint, http(s). Only its origin and path ever appear in messages. */
  url: string;
  /** The version the app must report (`version`, or health+json's `releaseId`). */
  expectedVersion: string;
  /** Longest wait between tries; waits start at 50 ms and grow towards it. */
  intervalMs: number;
  /** Time one try (health request plus smoke checks) may take. */
  timeoutMs: number;
  /** No try starts later than this after the start; the gate fails as soon as passing in time is impossible. */
  deadlineMs: number;
  /** Consecutive passing tries before the stable-for window starts. */
  successesNeeded: number;
  /** How long it must then keep passing; one failed try restarts the count and the window. */
  stableForMs: number;
  /** Whether degraded (206, `status: degraded`) counts as passing. */
  allowDegraded: boolean;
  smokeChecks: SmokeCheck[];
  /** Sent with every request (e.g. `Host` through a router); their values never appear in messages. */
  headers?: Record<string, string>;
}

/** The stack's `health` settings, in the config schema's own shape: every reader takes this one. */
export type HealthSettings = ParsedStackConfig["health"];

type GateSettingKey =
  | "intervalSeconds"
  | "timeoutSeconds"
  | "deadlineSeconds"
  | "successesNeeded"
  | "allowDegraded"
  | "smokeChecks";

const ms = (seconds: number) => seconds * 1000;

/**
 * The stack's `health` settings as the gate's timing and pass rules, the one place seconds become
 * milliseconds. `stableForSeconds` is the window to hold: a slot's gate holds for
 * `health.stableForSeconds`, the router's post-switch watch for `health.postSwitchStableForSeconds`.
 */
export function gateSettings(
  health: Pick<HealthSettings, GateSettingKey>,
  stableForSeconds: number,
): Omit<GateSpec, "url" | "expectedVersion" | "headers"> {
  return {
    intervalMs: ms(health.intervalSeconds),
    timeoutMs: ms(health.timeoutSeconds),
    deadlineMs: ms(health.deadlineSeconds),
    successesNeeded: health.successesNeeded,
    stableForMs: ms(stableForSeconds),
    allowDegraded: health.allowDegraded,
    smokeChecks: health.smokeChecks,
  };
}

export interface GateResult {
  passedAt: string;
  waitedMs: number;
  /** Tries made, passing or not. */
  checks: number;
  version: string;
  /** "healthy", or "degraded" when allowed. */
  status: string;
}

/** What one try saw. `state` names the situation coarsely: a change of it is reported and resets to fast polling. */
export interface TryOutcome {
  passed: boolean;
  state: string;
  /** What was seen, for messages: status code, body summary, failed checks, version found vs expected. */
  seen: string;
  report?: HealthReport;
}

export class GateFailed extends Error {
  constructor(
    message: string,
    readonly waitedMs: number,
    readonly checks: number,
    readonly last: TryOutcome | undefined,
  ) {
    super(message);
    this.name = "GateFailed";
  }
}

export function gateSpecProblems(spec: GateSpec): InputProblem[] {
  const problems: InputProblem[] = [];
  const need = (ok: boolean, property: string, reason: string) => {
    if (!ok) problems.push({ property, reason });
  };
  need(typeof spec.url === "string" && isHttpUrl(spec.url), "url", "must be an http:// or https:// URL");
  need(
    typeof spec.expectedVersion === "string" && spec.expectedVersion.trim() !== "",
    "expectedVersion",
    "must be a non-empty string",
  );
  for (const key of ["intervalMs", "timeoutMs", "deadlineMs"] as const) {
    need(isFiniteNumber(spec[key]) && spec[key] > 0, key, "must be a number of milliseconds above 0");
  }
  need(
    isFiniteNumber(spec.stableForMs) && spec.stableForMs >= 0,
    "stableForMs",
    "must be a number of milliseconds, 0 or more",
  );
  need(
    Number.isInteger(spec.successesNeeded) && spec.successesNeeded >= 1,
    "successesNeeded",
    "must be an integer of 1 or more",
  );
  need(typeof spec.allowDegraded === "boolean", "allowDegraded", "must be true or false");
  if (!Array.isArray(spec.smokeChecks)) {
    problems.push({
      property: "smokeChecks",
      reason: "must be a list of {path, status}",
    });
  } else {
    spec.smokeChecks.forEach((smoke, i) => {
      const path = (smoke as Partial<SmokeCheck> | null)?.path;
      const status = (smoke as Partial<SmokeCheck> | null)?.status;
      need(
        typeof path === "string" && /^\/\S*$/.test(path),
        `smokeChecks[${i}].path`,
        "must be a path starting with / and without spaces",
      );
      need(
        Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599,
        `smokeChecks[${i}].status`,
        "must be an HTTP status code (100-599)",
      );
    });
  }
  if (spec.headers !== undefined) {
    if (spec.headers === null || typeof spec.headers !== "object" || Array.isArray(spec.headers)) {
      problems.push({
        property: "headers",
        reason: "must be a map of header name to value",
      });
    } else {
      for (const [name, value] of Object.entries(spec.headers)) {
        need(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name), `headers.${name}`, "is not a valid header name");
        // The value is never quoted: it may be a token.
        need(
          typeof value === "string" && !/[\r\n]/.test(value),
          `headers.${name}`,
          "must be a one-line string",
        );
      }
    }
  }
  return problems;
}

/**
 * Resolves once the gate passes; rejects with `GateFailed` when the deadline makes passing
 * impossible. `onProgress` hears each change of state, and what the gate still sees every
 * `reminderMs` while nothing changes, so a long wait never looks like a hang.
 */
export async function waitUntilStable(
  spec: GateSpec,
  onProgress: (message: string) => void = () => {},
  reminderMs = 10_000,
): Promise<GateResult> {
  throwIfProblems(gateSpecProblems(spec), "invalid health gate");
  const started = performance.now();
  const deadlineAt = started + spec.deadlineMs;
  const target = displayUrl(spec.url);
  let consecutive = 0;
  let windowStart: number | undefined;
  let longestHeldMs: number | undefined;
  let restarts = 0;
  let mostConsecutive = 0;
  let reportedAt = started;
  const report = (message: string) => {
    reportedAt = performance.now();
    onProgress(message);
  };

  report(
    `checking ${target} for version ${spec.expectedVersion}: ${spec.successesNeeded} consecutive passes, then stable for ${spec.stableForMs} ms`,
  );
  const judge = ({
    attempt: outcome,
    tries: checks,
    now,
    changed,
  }: PollStep<TryOutcome>): PollVerdict<GateResult> => {
    if (outcome.passed) {
      consecutive++;
      mostConsecutive = Math.max(mostConsecutive, consecutive);
      if (changed) report(`passing: ${outcome.seen}`);
      if (consecutive === spec.successesNeeded) {
        windowStart = now;
        if (spec.stableForMs > 0) {
          report(`${consecutive} consecutive passes; must now stay passing for ${spec.stableForMs} ms`);
        }
      }
      if (windowStart !== undefined && now - windowStart >= spec.stableForMs) {
        const waitedMs = Math.round(now - started);
        report(`passed after ${waitedMs} ms and ${checks} checks`);
        return {
          done: {
            passedAt: new Date().toISOString(),
            waitedMs,
            checks,
            // Passing means the app reported exactly this version.
            version: spec.expectedVersion,
            status: outcome.report?.verdict ?? "healthy",
          },
        };
      }
    } else {
      if (windowStart !== undefined) {
        restarts++;
        longestHeldMs = Math.max(longestHeldMs ?? 0, now - windowStart);
        report(
          `failed ${Math.round(now - windowStart)} ms into the stable window, starting over: ${outcome.seen}`,
        );
      } else if (changed) {
        report(`not passing: ${outcome.seen}`);
      }
      consecutive = 0;
      windowStart = undefined;
    }
    if (!changed && now - reportedAt >= reminderMs) {
      const waited = Math.round((now - started) / 1000);
      report(
        `still ${outcome.passed ? "passing" : "not passing"} after ${waited} s ` +
          `(the gate fails at ${Math.round(spec.deadlineMs / 1000)} s): ${outcome.seen}`,
      );
    }

    // The window can finish no earlier than stableForMs after it starts, and it has not started yet after a failure.
    const earliestPass = (windowStart ?? now) + spec.stableForMs;
    if (earliestPass > deadlineAt || (windowStart === undefined && now >= deadlineAt)) {
      const waitedMs = Math.round(now - started);
      throw new GateFailed(
        failureMessage(spec, target, waitedMs, checks, {
          mostConsecutive,
          longestHeldMs,
          restarts,
          heldMs: windowStart === undefined ? undefined : now - windowStart,
          lastPassed: outcome.passed,
          seen: outcome.seen,
        }),
        waitedMs,
        checks,
        outcome,
      );
    }
    const windowLeft = windowStart === undefined ? Infinity : windowStart + spec.stableForMs - now;
    return { waitAtMostMs: Math.min(deadlineAt - now, windowLeft) };
  };
  return pollUntil(
    { intervalMs: spec.intervalMs, startedAt: started },
    () => tryOnce(spec, spec.timeoutMs),
    judge,
  );
}

interface FailureFacts {
  mostConsecutive: number;
  longestHeldMs: number | undefined;
  restarts: number;
  heldMs: number | undefined;
  lastPassed: boolean;
  seen: string;
}

export function failureMessage(
  spec: GateSpec,
  target: string,
  waitedMs: number,
  checks: number,
  facts: FailureFacts,
) {
  const window = `${spec.stableForMs} ms stable window`;
  const reasons: string[] = [];
  if (facts.longestHeldMs !== undefined) {
    const times = facts.restarts === 1 ? "once" : `${facts.restarts} times`;
    reasons.push(
      `it failed inside the ${window} ${times} (longest hold ${Math.round(facts.longestHeldMs)} ms)`,
    );
  } else if (facts.mostConsecutive === 0) {
    reasons.push("no check passed");
  } else if (facts.mostConsecutive < spec.successesNeeded) {
    reasons.push(`it never passed ${spec.successesNeeded} times in a row (at most ${facts.mostConsecutive})`);
  }
  const tooLate = `the window could no longer end within the ${spec.deadlineMs} ms deadline`;
  if (facts.heldMs !== undefined) {
    reasons.push(`it had held for ${Math.round(facts.heldMs)} ms of the ${window}, but ${tooLate}`);
  } else if (facts.lastPassed && facts.longestHeldMs !== undefined) {
    reasons.push(`it was passing again, but ${tooLate}`);
  }
  const why = reasons.join("; ");
  return (
    `health gate for ${target} (version ${spec.expectedVersion}) failed after ${waitedMs} ms and ${checks} checks ` +
    `(deadline ${spec.deadlineMs} ms): ${why}; last seen: ${facts.seen}`
  );
}

/** One try: the health request, then (only if it passed) every smoke check. */
export async function tryOnce(spec: GateSpec, timeoutMs: number): Promise<TryOutcome> {
  const until = performance.now() + timeoutMs;
  let response: HealthResponse;
  try {
    response = await httpGet(spec.url, spec.headers, timeoutMs);
  } catch (err) {
    const reason = requestFailure(err, timeoutMs);
    return { passed: false, state: `no answer: ${reason}`, seen: reason };
  }
  const report = parseHealthResponse(response);
  const judged = judgeReport(report, spec);
  const state = [report.verdict, report.statusCode, report.version, ...report.failedChecks].join(" ");
  if (!judged.passed) {
    return {
      passed: false,
      state: `${state} ${judged.reason}`,
      seen: `${report.summary}; ${judged.reason}`,
      report,
    };
  }
  const smokeFailures = await smokeCheckFailures(spec, Math.max(1, until - performance.now()));
  if (smokeFailures.length > 0) {
    const reason = `smoke checks failed: ${smokeFailures.join("; ")}`;
    return {
      passed: false,
      state: `${state} ${reason}`,
      seen: `${report.summary}; ${reason}`,
      report,
    };
  }
  return { passed: true, state, seen: report.summary, report };
}

/** Whether a parsed response passes, and if not, why in words that name found vs expected. */
export function judgeReport(report: HealthReport, spec: Pick<GateSpec, "expectedVersion" | "allowDegraded">) {
  const fail = (reason: string) => ({ passed: false as const, reason });
  if (report.verdict === "unreadable") return fail("not a readable health response");
  if (report.verdict === "unhealthy") return fail("unhealthy");
  if (report.verdict === "degraded" && !spec.allowDegraded)
    return fail("degraded, and degraded is not allowed");
  if (report.version === undefined && report.releaseId === undefined) {
    return fail(`no version reported, expected ${spec.expectedVersion}`);
  }
  if (report.version !== spec.expectedVersion && report.releaseId !== spec.expectedVersion) {
    const found =
      report.version === undefined
        ? `release ${report.releaseId}`
        : report.releaseId === undefined
          ? `version ${report.version}`
          : `version ${report.version} (release ${report.releaseId})`;
    return fail(`${found} found, expected ${spec.expectedVersion}`);
  }
  return { passed: true as const, reason: "" };
}

async function smokeCheckFailures(spec: GateSpec, timeoutMs: number): Promise<string[]> {
  const results = await Promise.all(
    spec.smokeChecks.map(async (smoke) => {
      const url = new URL(smoke.path, spec.url).toString();
      try {
        const response = await httpGet(url, spec.headers, timeoutMs);
        return response.statusCode === smoke.status
          ? undefined
          : `GET ${smoke.path} answered ${response.statusCode}, expected ${smoke.status}`;
      } catch (err) {
        return `GET ${smoke.path}: ${requestFailure(err, timeoutMs)}`;
      }
    }),
  );
  return results.filter((r): r is string => r !== undefined);
}

class RequestTimedOut extends Error {}

/**
 * One GET on a fresh connection (a reused one could hide a restarted app), read up to just past
 * the body limit. Rejects when nothing answered within `timeoutMs`.
 */
export function httpGet(
  url: string,
  headers: Record<string, string> | undefined,
  timeoutMs: number,
): Promise<HealthResponse> {
  return new Promise((resolve, reject) => {
    const parsed = new URL(url);
    const client = parsed.protocol === "https:" ? https : http;
    const host = headers && Object.entries(headers).find(([name]) => name.toLowerCase() === "host")?.[1];
    const req = client.request(parsed, {
      method: "GET",
      agent: false,
      headers: {
        accept: "application/health+json, application/json;q=0.9, */*;q=0.1",
        ...headers,
      },
      ...(parsed.protocol === "https:" && host ? { servername: host.replace(/:\d+$/, "") } : {}),
    });
    const timer = setTimeout(() => req.destroy(new RequestTimedOut()), timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        clearTimeout(timer);
        resolve({
          statusCode: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      };
      res.on("data", (chunk: Buffer) => {
        if (size > maxHealthBodyBytes) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size > maxHealthBodyBytes) {
          done();
          req.destroy();
        }
      });
      res.on("end", done);
      res.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.end();
  });
}

const errorReasons: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection closed while sending",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connect timed out",
};

/** Failure reasons from codes only: a raw error message may quote a URL with credentials. */
export function requestFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof RequestTimedOut) return `no answer within ${Math.round(timeoutMs)} ms`;
  const { code, message } = err as NodeJS.ErrnoException;
  if (message === "socket hang up") return "connection closed before a response";
  if (code && errorReasons[code]) return errorReasons[code];
  if (code?.startsWith("HPE_")) return "malformed HTTP response";
  // Stryker disable next-line Regex: the codes Node and OpenSSL report carry these words only as prefixes, so dropping `^` is unobservable
  if (code && /^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(code)) return `TLS failure (${code})`;
  return code ? `request failed (${code})` : "request failed";
}

/** The URL as messages show it: no credentials, no query (it may carry a token). */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${parsed.search ? "?…" : ""}`;
  } catch {
    return "(invalid URL)";
  }
}

function isHttpUrl(text: string): boolean {
  return URL.canParse(text) && ["http:", "https:"].includes(new URL(text).protocol);
}

/** Number.isFinite is false for anything but a number: no coercion. */
function isFiniteNumber(value: unknown): value is number {
  return Number.isFinite(value);
}
