/**
 * Database snapshots in a directory on the target: take one, list them, restore one. No Pulumi:
 * the PgSnapshot provider and the `snapshot` command both call these.
 *
 * Every operation is one bash script run on the target through the executor, so a dump goes
 * from pg_dump straight into a file on the target's disk and never through this process. The
 * PostgreSQL tools run behind a command prefix (`docker exec -i postgres`, or nothing when
 * they can reach the server directly). The password is the script's first line of standard
 * input; the script hands it to each tool on that tool's standard input, which a tiny `sh`
 * wrapper reads into PGPASSWORD, so it is never in an argv, a file or a message.
 */

import { shellQuote } from "../target";
import { type Executor, runChecked } from "./executor";
import { type InputProblem, isPort, portReason, redact, throwIfProblems } from "./inputs";
import {
  ownerProblems,
  ownSnapshots,
  type SnapshotOwner,
  snapshotFileName,
  snapshotNameShape,
  snapshotPrefix,
  snapshotsToPrune,
} from "./snapshotFiles";

/** How the PostgreSQL tools reach the server, from the target. */
export interface PgAccess {
  /** Runs a command where the tools are, e.g. `["docker", "exec", "-i", "postgres"]`; `[]` runs them on the target itself. */
  commandPrefix: string[];
  /** Server host as the tools see it; omitted, they use the local socket. */
  host?: string;
  port?: number;
  user: string;
  database: string;
}

/** Where a stack's snapshots live and whose database they hold. */
export interface SnapshotLocation {
  owner: SnapshotOwner;
  /** Absolute directory on the target; created with mode 0700 if missing. */
  directory: string;
  access: PgAccess;
}

export interface TakenSnapshot {
  path: string;
  fileName: string;
  /** Bytes. */
  size: number;
  sha256: string;
  /** ISO 8601, UTC; the name carries the same instant. */
  startedAt: string;
  finishedAt: string;
  /** As the dump records it, e.g. `15.8 (Debian 15.8-0+deb12u1)`. */
  serverVersion: string;
  /** What each of the request's `queries` answered right after the dump, in their order. */
  valuesBefore: string[];
  /** Files retention removed after this snapshot was safely in place. */
  pruned: string[];
}

export interface ListedSnapshot {
  path: string;
  fileName: string;
  takenAt: Date;
  label: string;
  size: number;
}

export interface RestoreReport {
  path: string;
  sha256: string;
  size: number;
  /** The database that now holds the snapshot's contents. */
  database: string;
  /** Where the database it replaced was kept, when there was one. */
  keptAs?: string;
  /**
   * The maintenance page around the swap: put up and taken down (`held`), an operator's left up
   * (`already`), or none for want of a router (`unavailable`); absent when not asked for.
   */
  maintenance?: "held" | "already" | "unavailable";
  startedAt: string;
  finishedAt: string;
}

/**
 * The PostgreSQL tools over `docker exec` into a switchyard stack's database container, through its
 * socket; `docker` is the target's CLI (`dockerCommand`).
 */
export function containerAccess(
  docker: readonly string[],
  container: string,
  database: { name: string; user: string },
): PgAccess {
  return {
    commandPrefix: [...docker, "exec", "-i", container],
    user: database.user,
    database: database.name,
  };
}

const pgIdentifier = /^[a-z_][a-z0-9_]{0,62}$/;

/** What is wrong with a location, by the property a user set; empty when nothing. */
export function locationProblems(location: SnapshotLocation): InputProblem[] {
  const { directory, access } = location;
  const problems = ownerProblems(location.owner);
  const problem = (property: string, reason: string) => problems.push({ property, reason });
  if (typeof directory !== "string" || !/^\/[^\0\n]*$/.test(directory) || directory.split("/").includes(".."))
    problem("directory", `expected an absolute path without '..', got ${JSON.stringify(directory)}`);
  const prefix: unknown = access.commandPrefix;
  if (!Array.isArray(prefix) || prefix.some((word) => typeof word !== "string" || word === ""))
    problem(
      "commandPrefix",
      'expected a list of non-empty strings, e.g. ["docker", "exec", "-i", "postgres"]',
    );
  for (const key of ["user", "database"] as const) {
    if (typeof access[key] !== "string" || !pgIdentifier.test(access[key]))
      problem(key, `expected a PostgreSQL identifier (a-z, 0-9, _), got ${JSON.stringify(access[key])}`);
  }
  if (
    access.host !== undefined &&
    !(typeof access.host === "string" && /^[A-Za-z0-9_.:/-]+$/.test(access.host))
  )
    problem("host", `expected a host name, address or socket directory, got ${JSON.stringify(access.host)}`);
  if (access.port !== undefined && !isPort(access.port)) problem("port", portReason(access.port));
  return problems;
}

/** The scripts read the password as one line of stdin; its value is never quoted back. */
export function passwordProblems(password: unknown): InputProblem[] {
  if (typeof password !== "string") return [{ property: "password", reason: "expected a string" }];
  if (/[\r\n]/.test(password))
    return [{ property: "password", reason: "contains a line break, which cannot be passed on as one line" }];
  return [];
}

/**
 * Takes a snapshot: pg_dump -Fc into a hidden partial file, verified with `pg_restore --list`,
 * fsynced, then published under its final name (a hard link, so an existing file is never
 * overwritten). Only then does retention remove the oldest of the owner's snapshots beyond
 * `retention`. Any failure removes the partial file and prunes nothing.
 */
export async function takeSnapshot(
  executor: Executor,
  location: SnapshotLocation,
  request: {
    password: string;
    trigger: string;
    retention: number;
    startedAt?: Date;
    /** SQL whose single value to record with the snapshot: what a validation compares after the migration. */
    queries?: string[];
  },
): Promise<TakenSnapshot> {
  throwIfProblems([...locationProblems(location), ...passwordProblems(request.password)]);
  // Checked now: a bad value found after the dump would fail a snapshot that succeeded.
  if (!Number.isInteger(request.retention) || request.retention < 1)
    throw new Error(`retention: expected a whole number >= 1, got ${request.retention}`);
  const started = request.startedAt ?? new Date();
  const fileName = snapshotFileName(location.owner, started, request.trigger);
  const result = await executor.run(["bash", "-c", takeScript(location, fileName, request.queries ?? [])], {
    stdin: `${request.password}\n`,
  });
  const where = `snapshot of database ${location.access.database} (${executor.description})`;
  if (result.exitCode !== 0) throw failure(`${where} failed`, result.stderr, request.password);
  const fields = scriptFields(result.stdout);
  const taken = {
    path: joinPath(location.directory, fileName),
    fileName,
    size: Number(fields.get("size")?.[0]),
    sha256: fields.get("sha256")?.[0] ?? "",
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    serverVersion: fields.get("server")?.[0] ?? "unknown",
    valuesBefore: (fields.get("before") ?? []).map((encoded) =>
      Buffer.from(encoded, "base64").toString("utf8"),
    ),
  };
  const pruned = snapshotsToPrune(location.owner, fields.get("entry") ?? [], request.retention, fileName);
  if (pruned.length > 0) {
    const paths = pruned.map((name) => joinPath(location.directory, name));
    try {
      await runChecked(executor, ["rm", "-f", "--", ...paths]);
    } catch (error) {
      throw failure(
        `${where}: ${taken.path} was taken, but retention could not remove ${pruned.join(", ")}`,
        (error as Error).message,
        request.password,
      );
    }
  }
  return { ...taken, pruned };
}

/** The owner's snapshots in the directory, newest first; none when the directory does not exist. */
export async function listSnapshots(
  executor: Executor,
  location: SnapshotLocation,
): Promise<ListedSnapshot[]> {
  throwIfProblems(locationProblems(location));
  const dir = shellQuote(location.directory);
  const script = `set -euo pipefail\n[ -d ${dir} ] || exit 0\nfind ${dir} -mindepth 1 -maxdepth 1 -type f -printf 'entry=%s %f\\n'\n`;
  const result = await executor.run(["bash", "-c", script]);
  if (result.exitCode !== 0)
    throw failure(`listing ${location.directory} (${executor.description}) failed`, result.stderr, "");
  const sizes = new Map<string, number>();
  for (const entry of scriptFields(result.stdout).get("entry") ?? []) {
    const space = entry.indexOf(" ");
    sizes.set(entry.slice(space + 1), Number(entry.slice(0, space)));
  }
  return ownSnapshots(location.owner, sizes.keys()).map((snapshot) => ({
    path: joinPath(location.directory, snapshot.fileName),
    fileName: snapshot.fileName,
    takenAt: snapshot.takenAt,
    label: snapshot.label,
    size: sizes.get(snapshot.fileName) ?? 0,
  }));
}

/**
 * Restores a snapshot into `targetDatabase` without ever leaving it half-restored: pg_restore
 * fills a new scratch database (in one transaction, stopping at the first error); only when
 * that succeeded does the target stop taking connections, its sessions end, and two renames in
 * one transaction put the scratch database in its place. The database it replaced is kept
 * under a `_before_<stamp>` name, so a restore can itself be undone. Any failure drops the
 * scratch database and leaves the target as it was.
 */
export async function restoreSnapshot(
  executor: Executor,
  location: SnapshotLocation,
  request: {
    password: string;
    fileName: string;
    targetDatabase: string;
    startedAt?: Date;
    /**
     * The router's maintenance page around the swap, so no request reaches a database being
     * swapped: `hold` takes the page on stdin and prints `up` (or `already`, when an operator's
     * page is up: left up afterwards), `release` takes it down.
     */
    maintenance?: { hold: string[]; release: string[]; page: string };
  },
): Promise<RestoreReport> {
  throwIfProblems([...locationProblems(location), ...passwordProblems(request.password)]);
  if (!ownSnapshots(location.owner, [request.fileName]).length) {
    throw new Error(
      `${request.fileName}: not a snapshot of stack ${location.owner.stack}; expected a name like ${snapshotNameShape(location.owner)}`,
    );
  }
  if (!pgIdentifier.test(request.targetDatabase))
    throw new Error(
      `target database: expected a PostgreSQL identifier (a-z, 0-9, _), got ${JSON.stringify(request.targetDatabase)}`,
    );
  const started = request.startedAt ?? new Date();
  const stamp = started.toISOString().replace(/[-:]/g, "").slice(0, 15).toLowerCase();
  const names = {
    target: request.targetDatabase,
    scratch: `switchyard_restore_${stamp}`,
    aside: `${request.targetDatabase.slice(0, 40)}_before_${stamp}`,
  };
  const path = joinPath(location.directory, request.fileName);
  const result = await executor.run(
    ["bash", "-c", restoreScript(location, path, names, request.maintenance)],
    {
      stdin: `${request.password}\n`,
    },
  );
  if (result.exitCode !== 0)
    throw failure(
      `restore of ${path} into database ${names.target} (${executor.description}) failed`,
      result.stderr,
      request.password,
    );
  const fields = scriptFields(result.stdout);
  return {
    path,
    sha256: fields.get("sha256")?.[0] ?? "",
    size: Number(fields.get("size")?.[0]),
    database: names.target,
    keptAs: fields.get("kept")?.[0],
    maintenance: fields.get("maintenance")?.[0] as RestoreReport["maintenance"],
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
  };
}

function joinPath(directory: string, fileName: string): string {
  return `${directory.replace(/\/+$/, "")}/${fileName}`;
}

/** `key=value` lines of a script's stdout, values by key in order. */
function scriptFields(stdout: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of stdout.split("\n")) {
    const equals = line.indexOf("=");
    if (equals <= 0) continue;
    const key = line.slice(0, equals);
    fields.set(key, [...(fields.get(key) ?? []), line.slice(equals + 1)]);
  }
  return fields;
}

/** An error whose message quotes the end of stderr, with the password blanked should any tool ever echo it. */
function failure(summary: string, stderr: string, password: string): Error {
  let detail = stderr.trim().split("\n").slice(-15).join("\n");
  detail = redact(detail, password, "[redacted]");
  return new Error(detail === "" ? summary : `${summary}:\n${detail}`);
}

/**
 * The lines every script starts with: strict mode, signals turned into an exit so the EXIT
 * trap cleans up, the password read from the first line of stdin, and `pg`, which runs a
 * PostgreSQL tool behind the prefix with the password on its stdin (followed by FILE's bytes).
 */
function preamble(access: PgAccess): string[] {
  // Runs behind the prefix: takes the first line of stdin as the password, leaves the rest to the tool.
  const wrapper =
    'IFS= read -r PGPASSWORD || true; if [ -n "$PGPASSWORD" ]; then export PGPASSWORD; else unset PGPASSWORD; fi; exec "$@"';
  const connection = [
    ...(access.host === undefined ? [] : [`--host=${access.host}`]),
    ...(access.port === undefined ? [] : [`--port=${access.port}`]),
    `--username=${access.user}`,
  ];
  return [
    "set -euo pipefail",
    "umask 077",
    "trap 'exit 129' HUP",
    "trap 'exit 130' INT",
    "trap 'exit 143' TERM",
    "IFS= read -r password || true",
    `prefix=(${access.commandPrefix.map(shellQuote).join(" ")})`,
    `connection=(${connection.map(shellQuote).join(" ")})`,
    "say() { printf '%s\\n' \"$*\" >&2; }",
    'describe_status() { if [ "$1" -gt 128 ]; then echo "killed by signal $(($1 - 128))"; else echo "exit status $1"; fi; }',
    // pg FILE TOOL ARGS...: the tool gets the password line, then FILE's contents, on stdin.
    `pg() { local input=$1; shift; { printf '%s\\n' "$password"; cat -- "$input"; } | "\${prefix[@]}" sh -c ${shellQuote(wrapper)} switchyard-pg "$@"; }`,
    // Waits for a server that is still starting (a fresh container), at most a minute.
    // pg_isready exits 1 while the server starts and 2 while nothing answers; anything else (a
    // prefix that cannot run, bad parameters) will not get better by waiting.
    "wait_for_server() {",
    "  local tries=0 status output",
    "  while :; do",
    '    if output=$("${prefix[@]}" pg_isready "${connection[@]}" --dbname="$1" 2>&1); then return 0; else status=$?; fi',
    "    tries=$((tries + 1))",
    '    if [ "$status" -gt 2 ] || [ "$tries" -ge 60 ]; then',
    '      say "PostgreSQL is not ready after $tries attempt(s) (pg_isready $(describe_status "$status")): $output"; exit 1',
    "    fi",
    "    sleep 1",
    "  done",
    "}",
  ];
}

function takeScript(location: SnapshotLocation, fileName: string, queries: readonly string[]): string {
  const { owner, access } = location;
  const q = shellQuote;
  const stalePattern = `${q(`.${snapshotPrefix(owner)}`)}*${q(".dump.partial")}`;
  return [
    ...preamble(access),
    `dir=${q(location.directory.replace(/\/+$/, "") || "/")}`,
    `final="$dir"/${q(fileName)}`,
    `partial="$dir"/${q(`.${fileName}.partial`)}`,
    `database=${q(access.database)}`,
    'if ! error=$(mkdir -p -- "$dir" 2>&1); then say "cannot create snapshot directory $dir: ${error##*: }"; exit 1; fi',
    // A partial left by a run that was killed outright (no trap runs on SIGKILL); the stack lock rules out a concurrent one.
    `shopt -s nullglob; rm -f -- "$dir"/${stalePattern}; shopt -u nullglob`,
    'if ! error=$( { : > "$partial"; } 2>&1 ); then say "snapshot directory $dir is not writable: ${error##*: }"; exit 1; fi',
    "trap 'rm -f -- \"$partial\"' EXIT",
    'if ! error=$(chmod 0700 -- "$dir" 2>&1); then say "cannot make snapshot directory $dir private (mode 0700): ${error##*: }"; exit 1; fi',
    'wait_for_server "$database"',
    'if pg /dev/null pg_dump --format=custom --no-password "${connection[@]}" --dbname="$database" > "$partial"; then :; else',
    '  status=$?; say "pg_dump of database $database failed ($(describe_status "$status"))"; exit 1',
    "fi",
    'if ! toc=$("${prefix[@]}" pg_restore --list < "$partial"); then say "the dump of $database does not verify: pg_restore --list failed"; exit 1; fi',
    // The values validations compare after the migration, read from the data just dumped.
    ...queries.flatMap((query, index) => [
      `if ! value=$(pg /dev/null psql -XAtq -v ON_ERROR_STOP=1 --no-password "\${connection[@]}" --dbname="$database" -c ${q(query)}); then`,
      // Most often on a first deploy: the query reads a table the migrations have yet to create.
      `  say "validation query ${index + 1} failed on $database before the migration (a query of a table this migration set creates has nothing to read yet: add validations with a later set)"; exit 1`,
      "fi",
      `before[${index}]=$(printf '%s' "$value" | base64 -w0)`,
    ]),
    'sum=$(sha256sum -- "$partial"); sum=${sum%% *}',
    'size=$(stat -c %s -- "$partial")',
    'sync -- "$partial"',
    'if ! error=$(ln -- "$partial" "$final" 2>&1); then say "cannot publish $final: ${error##*: }"; exit 1; fi',
    'rm -f -- "$partial"',
    "trap - EXIT",
    'sync -- "$dir"',
    `printf 'size=%s\\nsha256=%s\\n' "$size" "$sum"`,
    `printf '%s\\n' "$toc" | sed -n 's/^;[[:space:]]*Dumped from database version: /server=/p'`,
    ...queries.map((_, index) => `printf 'before=%s\\n' "\${before[${index}]}"`),
    'ls -1A -- "$dir" | sed "s/^/entry=/"',
    "",
  ].join("\n");
}

function restoreScript(
  location: SnapshotLocation,
  path: string,
  names: { target: string; scratch: string; aside: string },
  maintenance?: { hold: string[]; release: string[]; page: string },
): string {
  const q = shellQuote;
  const literal = (name: string) => `'${name}'`; // names are checked identifiers: no quoting needed inside
  const ident = (name: string) => `"${name}"`;
  const sessionsOfTarget = `FROM pg_stat_activity WHERE datname = ${literal(names.target)} AND pid <> pg_backend_pid()`;
  // pg_stat_activity is a per-transaction snapshot: clear it each round or the loop never sees a session leave.
  const endSessions = `DO $$ BEGIN
  PERFORM pg_terminate_backend(pid) ${sessionsOfTarget};
  FOR i IN 1..100 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT 1 ${sessionsOfTarget});
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$`;
  return [
    ...preamble(location.access),
    `file=${q(path)}`,
    `target=${q(names.target)}`,
    `scratch=${q(names.scratch)}`,
    `aside=${q(names.aside)}`,
    'admin() { pg /dev/null psql --no-password --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 "${connection[@]}" --dbname=postgres "$@"; }',
    'if [ ! -f "$file" ]; then say "no snapshot $file"; exit 1; fi',
    'if ! "${prefix[@]}" pg_restore --list < "$file" > /dev/null; then say "$file does not verify: pg_restore --list failed"; exit 1; fi',
    'sum=$(sha256sum -- "$file"); sum=${sum%% *}',
    'size=$(stat -c %s -- "$file")',
    "wait_for_server postgres",
    "phase=start",
    `hold=(${(maintenance?.hold ?? []).map(q).join(" ")})`,
    `release=(${(maintenance?.release ?? []).map(q).join(" ")})`,
    "held=",
    // Without a router to hold, the restore goes on: no request reaches the database through it.
    "hold_traffic() {",
    "  [ ${#hold[@]} -gt 0 ] || return 0",
    `  if answer=$(printf '%s' ${q(maintenance?.page ?? "")} | "\${hold[@]}"); then :; else`,
    '    say "could not put the maintenance page up; restoring without it"; printf "maintenance=unavailable\\n"; return 0',
    "  fi",
    '  if [ "$answer" = up ]; then held=1; printf "maintenance=held\\n"; else printf "maintenance=already\\n"; fi',
    "}",
    "release_traffic() {",
    '  if [ -n "$held" ]; then "${release[@]}" < /dev/null || say "could not take the maintenance page down: take it down by hand"; held=; fi',
    "}",
    "cleanup() {",
    "  release_traffic",
    '  if [ "$phase" = closed ]; then admin -c ' +
      q(`ALTER DATABASE ${ident(names.target)} ALLOW_CONNECTIONS true`) +
      ' || say "could not let connections back into $target";',
    "  fi",
    '  if [ "$phase" = created ] || [ "$phase" = closed ]; then admin -c ' +
      q(`DROP DATABASE IF EXISTS ${ident(names.scratch)}`) +
      ' || say "could not drop the scratch database $scratch";',
    "  fi",
    "}",
    "trap cleanup EXIT",
    `exists=$(admin -c ${q(`SELECT count(*) FROM pg_database WHERE datname = ${literal(names.target)}`)})`,
    `admin -c ${q(`CREATE DATABASE ${ident(names.scratch)} TEMPLATE template0`)}`,
    "phase=created",
    'if pg "$file" pg_restore --no-password --exit-on-error --single-transaction "${connection[@]}" --dbname="$scratch"; then :; else',
    '  status=$?; say "pg_restore into a scratch database failed ($(describe_status "$status")); $target is unchanged"; exit 1',
    "fi",
    'if [ "$exists" = 1 ]; then',
    "  hold_traffic",
    `  admin -c ${q(`ALTER DATABASE ${ident(names.target)} ALLOW_CONNECTIONS false`)}`,
    "  phase=closed",
    `  admin -c ${q(endSessions)}`,
    `  admin -c ${q(`ALTER DATABASE ${ident(names.target)} RENAME TO ${ident(names.aside)}; ALTER DATABASE ${ident(names.scratch)} RENAME TO ${ident(names.target)}`)}`,
    "  phase=done",
    "  release_traffic",
    `  admin -c ${q(`ALTER DATABASE ${ident(names.aside)} ALLOW_CONNECTIONS true`)} || say "$aside still refuses connections"`,
    `  printf 'kept=%s\\n' "$aside"`,
    "else",
    `  admin -c ${q(`ALTER DATABASE ${ident(names.scratch)} RENAME TO ${ident(names.target)}`)}`,
    "  phase=done",
    "fi",
    `printf 'size=%s\\nsha256=%s\\n' "$size" "$sum"`,
    "",
  ].join("\n");
}
