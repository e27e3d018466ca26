/**
 * Reads one health-endpoint response into a verdict. Pure, so every format teams use can be
 * tested without a server: the demo app's `{status, version, database, migrations, checks:[...]}`,
 * the IETF health+json draft (`pass|warn|fail`, `releaseId`, `checks` as a map of arrays),
 * Spring Boot actuator (`UP|DOWN|OUT_OF_SERVICE`, `components`), and plain `200 OK` text.
 *
 * The verdict is the worst of what the status code, the body's `status`, its named checks and
 * its `database`/`migrations` fields say, so no single optimistic signal can make a slot pass.
 */

export type HealthVerdict = "healthy" | "degraded" | "unhealthy" | "unreadable";
export type CheckStatus = "pass" | "warn" | "fail" | "unknown";

export interface HealthCheck {
  name: string;
  status: CheckStatus;
  /** The check's own explanation, shortened and with credentials removed. */
  detail?: string;
}

export interface HealthResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HealthReport {
  verdict: HealthVerdict;
  statusCode: number;
  /** What the body's `status` said, as written (shortened, credentials removed); undefined when it had none. */
  status?: string;
  /** `version` (or `build.version`/`app.version`, or the X-App-Version header). */
  version?: string;
  /** health+json's `releaseId`: the deployed build when `version` is an API version. */
  releaseId?: string;
  database?: string;
  migrations?: string;
  checks: HealthCheck[];
  /** Names of checks that warn or fail, in the order the body gave them. */
  failedChecks: string[];
  /** Why the response could not be read, for `unreadable`. */
  problem?: string;
  /** One line for logs and errors: bounded length, no header values, credentials removed. */
  summary: string;
}

const healthyWords = ["healthy", "ok", "up", "pass", "passed", "passing", "green", "available", "ready"];
const degradedWords = ["degraded", "warn", "warning", "yellow", "partial"];
const unhealthyWords = [
  "unhealthy",
  "fail",
  "failed",
  "failing",
  "down",
  "error",
  "critical",
  "red",
  "out_of_service",
  "unavailable",
];

// `true`/`false`: a boolean `database` field, as text.
const databaseUp = ["connected", "up", "ok", "healthy", "pass", "available", "reachable", "true"];
const databaseDown = [
  "disconnected",
  "down",
  "unreachable",
  "error",
  "fail",
  "failed",
  "unavailable",
  "unhealthy",
  "false",
];
// `true`/`false`: a boolean `migrations` field, as text.
const migrationsCurrent = [
  "up-to-date",
  "up_to_date",
  "uptodate",
  "current",
  "applied",
  "ok",
  "complete",
  "true",
];
const migrationsBehind = ["pending", "behind", "outdated"];
const migrationsBroken = ["failed", "error", "dirty", "false"];

/** Bodies beyond this are not health documents; the prober stops reading there too. */
export const maxHealthBodyBytes = 64 * 1024;
const detailLength = 80;
const excerptLength = 120;

/** From best to worst. */
const verdictOrder: readonly HealthVerdict[] = ["healthy", "degraded", "unhealthy", "unreadable"];
const verdictRank = Object.fromEntries(verdictOrder.map((verdict, rank) => [verdict, rank]));

/** The verdict latest in `verdictOrder`; healthy when there is none. */
export function worstVerdict(...verdicts: HealthVerdict[]): HealthVerdict {
  return verdictOrder[Math.max(0, ...verdicts.map((v) => verdictRank[v]))];
}

/** Maps a status word from any of the supported formats; undefined when it is not one of them. */
export function verdictOfWord(word: string): Exclude<HealthVerdict, "unreadable"> | undefined {
  const normal = word
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, "_");
  if (healthyWords.includes(normal)) return "healthy";
  if (degradedWords.includes(normal)) return "degraded";
  if (unhealthyWords.includes(normal)) return "unhealthy";
  return undefined;
}

function checkStatusOf(value: unknown): CheckStatus {
  if (typeof value === "boolean") return value ? "pass" : "fail";
  if (typeof value !== "string") return "unknown";
  const verdict = verdictOfWord(value);
  if (verdict === "healthy") return "pass";
  if (verdict === "degraded") return "warn";
  if (verdict === "unhealthy") return "fail";
  return "unknown";
}

export function parseHealthResponse(response: HealthResponse): HealthReport {
  const { statusCode } = response;
  const byCode = verdictOfStatusCode(statusCode);
  const body = response.body;
  const headerVersion =
    headerValue(response.headers, "x-app-version") ?? headerValue(response.headers, "x-version");

  const document = parseDocument(response);
  if (document.kind === "invalid") {
    return finish({
      verdict: byCode === "healthy" || byCode === "degraded" ? "unreadable" : byCode,
      statusCode,
      version: headerVersion,
      checks: [],
      problem: document.problem,
      excerpt: excerpt(body),
    });
  }
  if (document.kind === "text") {
    const word = verdictOfWord(body);
    return finish({
      verdict: worstVerdict(byCode, word ?? "healthy"),
      statusCode,
      status: word ? shorten(body.trim(), detailLength) : undefined,
      version: headerVersion,
      checks: [],
      excerpt: word ? undefined : excerpt(body),
    });
  }

  const json = document.value;
  // `ok`/`success`: the booleans of apps without a status word (`{"ok": false}` is not healthy).
  const rawStatus = firstDefined(json.status, json.state, json.healthy, json.ok, json.success);
  let statusWord: string | undefined;
  let byBody: HealthVerdict | undefined;
  let problem: string | undefined;
  if (typeof rawStatus === "boolean") {
    statusWord = String(rawStatus);
    byBody = rawStatus ? "healthy" : "unhealthy";
  } else if (typeof rawStatus === "string") {
    statusWord = shorten(redact(rawStatus), detailLength);
    byBody = verdictOfWord(rawStatus);
    if (!byBody) problem = `unknown status ${JSON.stringify(statusWord)}`;
  } else if (rawStatus !== undefined) {
    problem = "status is not a string";
  }

  const checks = readChecks(json.checks ?? json.components);
  const database = readField(json.database ?? json.db);
  const migrations = readField(json.migrations);
  addFieldCheck(checks, "database", database, databaseUp, databaseDown);
  addFieldCheck(checks, "migrations", migrations, migrationsCurrent, migrationsBroken, migrationsBehind);

  const version = scalarText(json.version) ?? nestedVersion(json) ?? headerVersion;
  const releaseId = scalarText(json.releaseId);

  let verdict: HealthVerdict;
  if (problem) verdict = byCode === "healthy" || byCode === "degraded" ? "unreadable" : byCode;
  else verdict = worstVerdict(byCode, byBody ?? "healthy", verdictOfChecks(checks, byBody));
  return finish({
    verdict,
    statusCode,
    status: statusWord,
    version,
    releaseId,
    database,
    migrations,
    checks,
    problem,
  });
}

function verdictOfStatusCode(code: number): Exclude<HealthVerdict, "unreadable"> {
  if (code === 206) return "degraded";
  if (code >= 200 && code < 300) return "healthy";
  return "unhealthy";
}

/**
 * Failed checks are what the app's own `status` is made of, so they do not overrule it
 * downwards beyond one step: a failing check under `status: healthy` is an app that
 * contradicts itself, which counts as degraded. Without a `status`, checks decide alone.
 */
function verdictOfChecks(checks: HealthCheck[], byBody: HealthVerdict | undefined): HealthVerdict {
  const failing = checks.some((c) => c.status === "fail");
  const warning = checks.some((c) => c.status === "warn");
  if (byBody === undefined) return failing ? "unhealthy" : warning ? "degraded" : "healthy";
  return failing || warning ? "degraded" : "healthy";
}

type Document =
  { kind: "json"; value: Record<string, unknown> } | { kind: "text" } | { kind: "invalid"; problem: string };

function parseDocument(response: HealthResponse): Document {
  const contentType =
    headerValue(response.headers, "content-type")?.toLowerCase() ??
    // Stryker disable next-line StringLiteral: a missing content type reads like any other that is neither JSON nor HTML
    "";
  const text = response.body.trim();
  const declaredJson = /[/+]json\b/.test(contentType);
  // An HTML page where health was expected is a catch-all route or an error page, never a health document.
  if (contentType.startsWith("text/html")) {
    return { kind: "invalid", problem: "an HTML page, not a health response" };
  }
  if (!declaredJson && !text.startsWith("{")) return { kind: "text" };
  if (Buffer.byteLength(response.body) > maxHealthBodyBytes) {
    return {
      kind: "invalid",
      problem: `body larger than ${maxHealthBodyBytes} bytes`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: "invalid", problem: "body is not valid JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { kind: "invalid", problem: "JSON body is not an object" };
  }
  // Stryker disable next-line StringLiteral: callers tell documents apart by the other two kinds only
  return { kind: "json", value: value as Record<string, unknown> };
}

/** Checks as an array of `{name, status}`, or a map of name to a status, an object, or (health+json) an array of objects. */
function readChecks(raw: unknown): HealthCheck[] {
  if (Array.isArray(raw)) {
    return raw.flatMap((entry, index) => {
      if (entry === null || typeof entry !== "object") return [];
      const record = entry as Record<string, unknown>;
      const name =
        scalarText(firstDefined(record.name, record.componentName, record.componentId, record.id)) ??
        `check ${index + 1}`;
      return [checkOf(name, record)];
    });
  }
  if (raw === null || typeof raw !== "object") return [];
  return Object.entries(raw as Record<string, unknown>).map(([name, value]) => {
    if (typeof value === "string" || typeof value === "boolean") {
      return { name: clean(name), status: checkStatusOf(value) };
    }
    if (Array.isArray(value)) {
      const parts = value.filter((v): v is Record<string, unknown> => v !== null && typeof v === "object");
      const each = parts.map((part) => checkOf(name, part));
      const worst = each.find((c) => c.status === "fail") ?? each.find((c) => c.status === "warn") ?? each[0];
      return worst ?? { name: clean(name), status: "unknown" as const };
    }
    // An object is one check; null or a number reads as one without a status.
    return checkOf(name, (value ?? {}) as Record<string, unknown>);
  });
}

function checkOf(name: string, record: Record<string, unknown>): HealthCheck {
  const status = checkStatusOf(firstDefined(record.status, record.state, record.healthy, record.ok));
  const rawDetail = firstDefined(record.detail, record.output, record.message, record.error);
  const detail = typeof rawDetail === "string" && rawDetail.trim() !== "" ? clean(rawDetail) : undefined;
  return detail === undefined ? { name: clean(name), status } : { name: clean(name), status, detail };
}

/** `database`/`migrations` as a word, or an object carrying `status`/`state`. */
function readField(raw: unknown): string | undefined {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const record = raw as Record<string, unknown>;
    return scalarText(firstDefined(record.status, record.state));
  }
  return scalarText(raw);
}

function fieldStatus(value: string, pass: string[], fail: string[], warn?: string[]): CheckStatus {
  const normal = value.trim().toLowerCase();
  if (pass.includes(normal)) return "pass";
  if (fail.includes(normal)) return "fail";
  if (warn?.includes(normal)) return "warn";
  return "unknown";
}

/** The top-level fields count as checks only when the body does not already name one so. */
function addFieldCheck(
  checks: HealthCheck[],
  name: string,
  value: string | undefined,
  ...words: [pass: string[], fail: string[], warn?: string[]]
) {
  if (value === undefined) return;
  const status = fieldStatus(value, ...words);
  if (status === "unknown" || checks.some((c) => c.name.toLowerCase() === name)) return;
  checks.push({ name, status, detail: clean(value) });
}

function nestedVersion(json: Record<string, unknown>): string | undefined {
  for (const key of ["build", "app", "info"]) {
    const nested = json[key];
    if (nested !== null && typeof nested === "object" && !Array.isArray(nested)) {
      const version = scalarText((nested as Record<string, unknown>).version);
      if (version !== undefined) return version;
    }
  }
  return undefined;
}

/** What parsing found, before the failed checks and the summary are derived from it. */
interface Findings extends Omit<HealthReport, "failedChecks" | "summary"> {
  /** Part of a body that said nothing structured, shown so the reader sees what came back. */
  excerpt?: string;
}

function finish(findings: Findings): HealthReport {
  const failedChecks = findings.checks
    .filter((c) => c.status === "warn" || c.status === "fail")
    .map((c) => c.name);
  const parts = [`HTTP ${findings.statusCode}`];
  if (findings.status !== undefined) parts.push(`status ${findings.status}`);
  if (findings.problem) parts.push(findings.problem);
  if (findings.version !== undefined) parts.push(`version ${shorten(findings.version, detailLength)}`);
  const failed = findings.checks
    .filter((c) => c.status === "warn" || c.status === "fail")
    .map((c) => (c.detail ? `${c.name} (${c.detail})` : c.name));
  if (failed.length > 0) parts.push(`failed checks: ${failed.join(", ")}`);
  if (findings.excerpt) parts.push(`body: ${findings.excerpt}`);
  const { excerpt: _excerpt, ...report } = findings;
  return { ...report, failedChecks, summary: parts.join(", ") };
}

function headerValue(headers: HealthResponse["headers"], name: string): string | undefined {
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  const value = Array.isArray(entry) ? entry[0] : entry;
  return value === "" ? undefined : value;
}

function firstDefined(...values: unknown[]): unknown {
  return values.find((v) => v !== undefined && v !== null);
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Empty for a blank body, which the summary then leaves out. */
function excerpt(body: string): string {
  return shorten(redact(body.replace(/\s+/g, " ").trim()), excerptLength);
}

function clean(text: string): string {
  return shorten(redact(text.replace(/\s+/g, " ").trim()), detailLength);
}

function shorten(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}

/**
 * Health bodies are written by apps, and a failing dependency's error often quotes its
 * connection string: drop URL credentials and the values of secret-looking keys (with the
 * scheme of an `Authorization: Bearer …` value).
 */
export function redact(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, "$1***@")
    .replace(
      /\b([\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|auth\w*|credential\w*)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|(?:(?:bearer|basic)\s+)?[^\s,;&"'}]+)/gi,
      "$1***",
    );
}
