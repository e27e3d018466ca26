import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort, type RunOptions, runChecked } from "./process";

/**
 * A PostgreSQL server for tests: a throwaway local cluster by default, or the
 * server named by PGHOST/PGPORT/PGUSER/PGPASSWORD when PGHOST is set.
 */
export interface PgServer {
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly password: string;
  /** Where initdb, pg_ctl, pg_dump, pg_restore live; undefined only for an external server on a machine without PostgreSQL. */
  readonly binDir: string | undefined;
  /** Cluster data directory; undefined for an external server. */
  readonly dataDir: string | undefined;
  /** False for an external server, where stop() and start() throw. */
  readonly canRestart: boolean;
  url(database: string, user?: string, password?: string): string;
  createDatabase(name: string): Promise<void>;
  /** Drops the database even if clients are still connected. */
  dropDatabase(name: string): Promise<void>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    database: string,
    sql: string,
    params?: readonly unknown[],
  ): Promise<R[]>;
  /** Stops the server process, keeping its data; a no-op when already stopped. */
  stop(): Promise<void>;
  /** Starts a stopped server on the same port; a no-op when running. */
  start(): Promise<void>;
  /** Stops the server and deletes its temporary directory; safe to call twice. */
  dispose(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** A database name unlikely to collide with a concurrent test run against a shared server. */
export function uniqueDatabaseName(prefix = "test"): string {
  return `${prefix}_${crypto.randomBytes(6).toString("hex")}`;
}

export async function startPostgres(): Promise<PgServer> {
  const host = process.env.PGHOST;
  if (host) {
    const server = new ExternalServer(
      host,
      Number(process.env.PGPORT ?? 5432),
      process.env.PGUSER ?? "postgres",
      process.env.PGPASSWORD ?? "",
    );
    await server.query("postgres", "SELECT 1");
    return server;
  }
  return LocalCluster.create();
}

/**
 * Debian/Ubuntu install each major version side by side under /usr/lib/postgresql;
 * the newest wins. Elsewhere initdb is usually on PATH, often as a symlink into the
 * real bin directory, which is what we want (pg_ctl and pg_dump live beside it).
 */
export function findPgBinDir(): string | undefined {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const debianRoot = "/usr/lib/postgresql";
  const versions = fs.existsSync(debianRoot)
    ? fs
        .readdirSync(debianRoot)
        .filter((name) => /^\d+(\.\d+)?$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const dir = path.join(debianRoot, version, "bin");
    if (isPgBinDir(dir)) return dir;
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const initdb = path.join(dir, "initdb");
    if (!dir || !fs.existsSync(initdb)) continue;
    const real = path.dirname(fs.realpathSync(initdb));
    if (isPgBinDir(real)) return real;
  }
  return undefined;
}

function isPgBinDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl"));
}

abstract class BaseServer implements PgServer {
  abstract readonly host: string;
  abstract readonly port: number;
  abstract readonly superuser: string;
  abstract readonly password: string;
  abstract readonly binDir: string | undefined;
  abstract readonly dataDir: string | undefined;
  abstract readonly canRestart: boolean;
  abstract stop(): Promise<void>;
  abstract start(): Promise<void>;
  abstract dispose(): Promise<void>;

  url(database: string, user = this.superuser, password = this.password): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    return `postgres://${credentials}@${host}:${this.port}/${encodeURIComponent(database)}`;
  }

  async createDatabase(name: string): Promise<void> {
    await this.query("postgres", `CREATE DATABASE ${identifier(name)}`);
  }

  async dropDatabase(name: string): Promise<void> {
    await this.query("postgres", `DROP DATABASE IF EXISTS ${identifier(name)} WITH (FORCE)`);
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    database: string,
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url(database), connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      const result = await client.query<R>(sql, [...params]);
      return result.rows;
    } finally {
      await client.end();
    }
  }
}

/** Names are interpolated into DDL, so only plain lower-case identifiers are accepted. */
function identifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

class ExternalServer extends BaseServer {
  readonly binDir = findPgBinDir();
  readonly dataDir = undefined;
  readonly canRestart = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly superuser: string,
    readonly password: string,
  ) {
    super();
    if (host.startsWith("/"))
      throw new Error("PGHOST must be a TCP host; unix socket directories are not supported");
  }

  async stop(): Promise<void> {
    throw new Error("cannot stop an external PostgreSQL server (PGHOST is set)");
  }

  async start(): Promise<void> {
    throw new Error("cannot start an external PostgreSQL server (PGHOST is set)");
  }

  async dispose(): Promise<void> {}
}

/** The OS account to run PostgreSQL binaries as: initdb and postgres refuse to run as root. */
interface Account {
  uid: number;
  gid: number;
}

function serviceAccount(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let entry: string;
  try {
    entry = execFileSync("getent", ["passwd", "postgres"], { encoding: "utf8" });
  } catch {
    throw new Error("running as root, but there is no 'postgres' system user to run initdb/pg_ctl as");
  }
  const [, , uid, gid] = entry.trim().split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

class LocalCluster extends BaseServer {
  readonly host = "127.0.0.1";
  readonly superuser = "postgres";
  readonly canRestart = true;
  readonly dataDir: string;
  private running = false;
  private disposed = false;
  private readonly logFile: string;
  private readonly onExit = () => this.emergencyStop();

  private constructor(
    readonly binDir: string,
    readonly port: number,
    readonly password: string,
    private readonly baseDir: string,
    private readonly account: Account | undefined,
  ) {
    super();
    this.dataDir = path.join(baseDir, "data");
    this.logFile = path.join(baseDir, "postgres.log");
    // Mocha exits the process when tests finish or crash; don't leave a postmaster behind.
    process.on("exit", this.onExit);
  }

  static async create(): Promise<LocalCluster> {
    const binDir = findPgBinDir();
    if (!binDir)
      throw new Error("PostgreSQL binaries not found: install PostgreSQL, set PG_BIN_DIR, or set PGHOST");
    const account = serviceAccount();
    const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-pg-"));
    const cluster = new LocalCluster(
      binDir,
      await freePort(),
      crypto.randomBytes(24).toString("base64url"),
      baseDir,
      account,
    );
    try {
      await cluster.init();
      await cluster.start();
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  }

  private async init(): Promise<void> {
    const socketDir = path.join(this.baseDir, "socket");
    const pwFile = path.join(this.baseDir, "pwfile");
    fs.mkdirSync(socketDir, { mode: 0o700 });
    fs.writeFileSync(pwFile, `${this.password}\n`, { mode: 0o600 });
    if (this.account) {
      for (const p of [this.baseDir, socketDir, pwFile]) fs.chownSync(p, this.account.uid, this.account.gid);
    }
    await this.pgBin("initdb", [
      "-D",
      this.dataDir,
      "-U",
      this.superuser,
      "--auth=scram-sha-256",
      `--pwfile=${pwFile}`,
      "--encoding=UTF8",
      "--no-locale",
      "--no-sync",
    ]);
    fs.rmSync(pwFile);
    // Durability is irrelevant for a throwaway cluster; speed and isolation are not.
    fs.appendFileSync(
      path.join(this.dataDir, "postgresql.conf"),
      [
        "",
        "listen_addresses = '127.0.0.1'",
        `port = ${this.port}`,
        `unix_socket_directories = '${socketDir}'`,
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "",
      ].join("\n"),
    );
  }

  async start(): Promise<void> {
    if (this.running) return;
    try {
      await this.pgBin("pg_ctl", ["-D", this.dataDir, "-l", this.logFile, "-w", "-t", "30", "start"]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- postgres log ---\n${this.logTail()}`);
    }
    this.running = true;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    await this.pgBin("pg_ctl", ["-D", this.dataDir, "-w", "-t", "30", "-m", "fast", "stop"]);
    this.running = false;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.stop();
    } finally {
      process.removeListener("exit", this.onExit);
      fs.rmSync(this.baseDir, { recursive: true, force: true });
    }
  }

  private pgBin(name: string, args: readonly string[]) {
    const options: RunOptions = { cwd: this.baseDir, timeoutMs: 60_000, ...this.account };
    return runChecked(path.join(this.binDir, name), args, options);
  }

  /** 'exit' handlers must be synchronous, hence execFileSync and an immediate shutdown. */
  private emergencyStop(): void {
    if (this.running) {
      try {
        execFileSync(path.join(this.binDir, "pg_ctl"), ["-D", this.dataDir, "-m", "immediate", "stop"], {
          cwd: this.baseDir,
          stdio: "ignore",
          ...this.account,
        });
      } catch {
        // Best effort: the process is exiting either way.
      }
    }
    fs.rmSync(this.baseDir, { recursive: true, force: true });
  }

  private logTail(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8").split("\n").slice(-30).join("\n");
    } catch {
      return "(no log written)";
    }
  }
}
