import { demoAppDir, startDemoApp } from "../support/demoApp";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { type PgServer, startPostgres, uniqueDatabaseName } from "../support/postgres";
import {
  Background,
  delay,
  freePort,
  type HttpResponse,
  httpGet,
  type RunResult,
  run,
  waitForHttp,
} from "../support/process";
import { startRedis } from "../support/redis";

const MIGRATION_FILES = ["001_create_items.sql", "002_add_items_created_at.sql"];
const VERSION = "1.4.2-test";
const SLOT = "green";

interface HealthBody {
  status: "healthy" | "degraded" | "unhealthy";
  version: string;
  slot: string;
  database: "connected" | "disconnected";
  redis: "connected" | "disconnected" | "not-configured";
  migrations: "up-to-date" | "pending" | "unknown";
  uptime: number;
  checks: { name: string; status: "pass" | "fail"; detail: string }[];
}

interface App {
  process: Background;
  baseUrl: string;
}

describe("demo app against real PostgreSQL", () => {
  let pg: PgServer;
  let database: string;
  // Undone in reverse order after every test, pass or fail.
  let cleanups: (() => Promise<unknown>)[] = [];

  const onCleanup = (fn: () => Promise<unknown>) => {
    cleanups.push(fn);
  };

  before(async () => {
    pg = await startPostgres();
  });

  after(async () => {
    await pg?.dispose();
  });

  beforeEach(async () => {
    database = uniqueDatabaseName("demo");
    await pg.createDatabase(database);
    onCleanup(() => pg.dropDatabase(database));
  });

  afterEach(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    const errors: unknown[] = [];
    for (const fn of pending) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
  });

  /** Only what the app needs, so the runner's own PGHOST, DATABASE_URL etc. cannot leak in. */
  const appEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    DATABASE_URL: pg.url(database),
    ...extra,
  });

  const startApp = async (extra: Record<string, string> = {}): Promise<App> => {
    const port = await freePort();
    const child = await startDemoApp(port, {
      DATABASE_URL: pg.url(database),
      APP_VERSION: VERSION,
      SLOT,
      ...extra,
    });
    onCleanup(() => child.stop("SIGKILL"));
    return { process: child, baseUrl: `http://127.0.0.1:${port}` };
  };

  const migrate = (args: string[] = [], extra: Record<string, string> = {}): Promise<RunResult> =>
    run(process.execPath, ["migrate.js", ...args], { cwd: demoAppDir, env: appEnv(extra) });

  const migrateOk = async (): Promise<RunResult> => {
    const result = await migrate();
    assert.equal(result.code, 0, result.output);
    return result;
  };

  // An answer later than the gate's check timeout (health.timeoutSeconds, 5 s by default) is no
  // answer to the gate: asking with that timeout is asking whether the gate would get one.
  const gateCheckTimeoutMs = 5000;
  const healthOnce = async (app: App): Promise<{ res: HttpResponse; body: HealthBody }> => {
    const res = await httpGet(`${app.baseUrl}/health`, gateCheckTimeoutMs);
    return { res, body: JSON.parse(res.body) as HealthBody };
  };
  /**
   * The app's answer once no check ran out of its own 1 s timeout: a first connection to a
   * dependency can take longer than that on a busy machine, and the app then (rightly) says so.
   */
  const health = async (app: App): Promise<{ res: HttpResponse; body: HealthBody }> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await healthOnce(app);
      if (!answer.body.checks.some((c) => c.detail === "timeout") || Date.now() > deadline) return answer;
      await delay(200);
    }
  };

  const check = (body: HealthBody, name: string) => {
    const found = body.checks.find((c) => c.name === name);
    assert.ok(found, `no ${name} check in ${JSON.stringify(body)}`);
    return found;
  };

  /** A TCP listener that accepts connections and never answers, like a firewalled host. */
  const blackHole = async (): Promise<number> => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    onCleanup(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    return port;
  };

  it("reports degraded with pending migrations before migrate has run", async () => {
    const app = await startApp();

    const { res, body } = await health(app);
    assert.equal(res.status, 206, res.body);
    assert.equal(body.status, "degraded");
    assert.equal(body.database, "connected");
    assert.equal(body.migrations, "pending");
    assert.equal(body.redis, "not-configured");
    assert.deepEqual(
      body.checks.map((c) => [c.name, c.status]),
      [
        ["database", "pass"],
        ["redis", "pass"],
        ["migrations", "fail"],
      ],
    );

    const status = await migrate(["--status"]);
    assert.equal(status.code, 3, status.output);
    for (const file of MIGRATION_FILES) assert.match(status.stdout, new RegExp(`pending\\s+${file}`));
  });

  it("applies both migrations, then reports healthy", async () => {
    const first = await migrateOk();
    for (const file of MIGRATION_FILES) assert.match(first.stdout, new RegExp(`applied\\s+${file}`));
    assert.match(first.stdout, /applied 2 migrations, 0 pending/);

    const app = await startApp();
    const { res, body } = await health(app);
    assert.equal(res.status, 200, res.body);
    assert.equal(body.status, "healthy");
    assert.equal(body.version, VERSION);
    assert.equal(body.slot, SLOT);
    assert.equal(body.database, "connected");
    assert.equal(body.migrations, "up-to-date");
    assert.equal(typeof body.uptime, "number");
    assert.ok(
      body.checks.every((c) => c.status === "pass"),
      res.body,
    );

    const second = await migrateOk();
    assert.match(second.stdout, /up to date/);
    assert.doesNotMatch(second.stdout, /applied\s+0/);
    const status = await migrate(["--status"]);
    assert.equal(status.code, 0, status.output);

    const versions = await pg.query<{ version: string }>(
      database,
      "SELECT version FROM schema_migrations ORDER BY version",
    );
    assert.deepEqual(
      versions.map((r) => r.version),
      MIGRATION_FILES.map((f) => f.replace(/\.sql$/, "")),
    );
    const columns = await pg.query<{ column_name: string }>(
      database,
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
    );
    assert.deepEqual(
      columns.map((c) => c.column_name),
      ["id", "name", "quantity", "created_at"],
    );
  });

  it("lets only one of two concurrent migrate runs apply the migrations", async () => {
    const [a, b] = await Promise.all([migrate(), migrate()]);
    assert.equal(a.code, 0, a.output);
    assert.equal(b.code, 0, b.output);
    const applied = (a.stdout + b.stdout).match(/applied\s+001_create_items\.sql/g) ?? [];
    assert.equal(applied.length, 1, a.output + b.output);
    const rows = await pg.query(database, "SELECT version FROM schema_migrations");
    assert.equal(rows.length, MIGRATION_FILES.length);
  });

  it("identifies its version and slot on GET / and 404s unknown paths", async () => {
    const app = await startApp();

    const root = await httpGet(`${app.baseUrl}/`);
    assert.equal(root.status, 200);
    assert.deepEqual(JSON.parse(root.body), { app: "switchyard-demo", version: VERSION, slot: SLOT });
    assert.equal(root.headers["x-slot"], SLOT);
    assert.equal(root.headers["x-app-version"], VERSION);

    const missing = await httpGet(`${app.baseUrl}/nope?x=1`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.headers["content-type"]), /application\/json/);
    assert.deepEqual(JSON.parse(missing.body), { error: "not found" });
  });

  it("describes its endpoints on GET /docs, as a smoke check's page", async () => {
    const app = await startApp({ HEALTH_PATH: "/api/health/system" });

    const docs = await httpGet(`${app.baseUrl}/docs`);
    assert.equal(docs.status, 200, docs.body);
    assert.equal(docs.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(docs.headers["x-slot"], SLOT);
    assert.equal(docs.headers["x-app-version"], VERSION);
    assert.match(docs.body, /^<!doctype html>/);
    for (const endpoint of ["/", "/api/health/system", "/docs", "/metrics"])
      assert.ok(docs.body.includes(`<code>GET ${endpoint}</code>`), `${endpoint} in ${docs.body}`);
    assert.ok(docs.body.includes(`<code>${VERSION}</code>`), docs.body);
  });

  it("exposes Prometheus metrics on GET /metrics: requests by route and its version and slot", async () => {
    const app = await startApp({ APP_VERSION: 'v"1\\2' });
    await httpGet(`${app.baseUrl}/`);
    await httpGet(`${app.baseUrl}/`);
    await httpGet(`${app.baseUrl}/no/such/page`);

    const metrics = await httpGet(`${app.baseUrl}/metrics`);
    assert.equal(metrics.status, 200, metrics.body);
    assert.equal(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(metrics.headers["x-slot"], SLOT);
    assert.equal(metrics.headers["x-app-version"], 'v"1\\2');
    // Text format 0.0.4: comment lines, or `name{label="value",…} number`, and a final newline.
    assert.ok(metrics.body.endsWith("\n"));
    const samples = metrics.body.trimEnd().split("\n");
    for (const line of samples) {
      assert.match(
        line,
        /^(# (HELP|TYPE) \w+ .+|[a-zA-Z_:][\w:]*(\{([a-zA-Z_]\w*="([^"\\\n]|\\[\\"n])*",?)*\})? -?\d+(\.\d+)?)$/,
        line,
      );
    }
    assert.ok(samples.includes("# TYPE switchyard_demo_requests_total counter"));
    // Counted on arrival, so the scrape counts itself; unknown paths are one series, not one each.
    assert.ok(samples.includes('switchyard_demo_requests_total{route="/"} 2'), metrics.body);
    assert.ok(samples.includes('switchyard_demo_requests_total{route="other"} 1'), metrics.body);
    assert.ok(samples.includes('switchyard_demo_requests_total{route="/metrics"} 1'), metrics.body);
    assert.ok(samples.includes(`switchyard_demo_info{version="v\\"1\\\\2",slot="${SLOT}"} 1`), metrics.body);

    const again = await httpGet(`${app.baseUrl}/metrics`);
    assert.ok(again.body.includes('switchyard_demo_requests_total{route="/metrics"} 2\n'), again.body);
  });

  it("answers its health on HEALTH_PATH instead of /health when set", async () => {
    const app = await startApp({ HEALTH_PATH: "/api/health/system" });
    const moved = await httpGet(`${app.baseUrl}/api/health/system`);
    assert.equal(JSON.parse(moved.body).version, VERSION);
    assert.equal((await httpGet(`${app.baseUrl}/health`)).status, 404);
  });

  it("stops at a broken migration, keeping earlier ones and recording nothing for it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-migrations-"));
    onCleanup(async () => fs.rmSync(dir, { recursive: true, force: true }));
    for (const file of MIGRATION_FILES) {
      fs.copyFileSync(path.join(demoAppDir, "migrations", file), path.join(dir, file));
    }
    // The valid first statement proves the whole file shares one transaction.
    fs.writeFileSync(path.join(dir, "003_broken.sql"), "CREATE TABLE half_done (id int);\nSELEC 1;\n");

    const result = await migrate([], { MIGRATIONS_DIR: dir });
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.stderr, /003_broken\.sql failed: syntax error at or near "SELEC"/);

    const versions = await pg.query<{ version: string }>(
      database,
      "SELECT version FROM schema_migrations ORDER BY version",
    );
    assert.deepEqual(
      versions.map((r) => r.version),
      ["001_create_items", "002_add_items_created_at"],
    );
    const [{ exists }] = await pg.query<{ exists: boolean }>(
      database,
      "SELECT to_regclass('half_done') IS NOT NULL AS exists",
    );
    assert.equal(exists, false);

    const status = await migrate(["--status"], { MIGRATIONS_DIR: dir });
    assert.equal(status.code, 3, status.output);
    assert.match(status.stdout, /pending\s+003_broken\.sql/);

    const app = await startApp({ MIGRATIONS_DIR: dir });
    const { res, body } = await health(app);
    assert.equal(res.status, 206, res.body);
    assert.equal(body.migrations, "pending");
    assert.match(check(body, "migrations").detail, /003_broken/);
  });

  it("never reveals a wrong database password", async () => {
    const password = `wrong-${crypto.randomBytes(8).toString("hex")}`;
    const badUrl = pg.url(database, pg.superuser, password);

    const result = await migrate([], { DATABASE_URL: badUrl });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /cannot connect to database: authentication failed/);
    assert.ok(!result.output.includes(password), result.output);

    const app = await startApp({ DATABASE_URL: badUrl });
    const { res, body } = await health(app);
    assert.equal(res.status, 503, res.body);
    assert.equal(body.status, "unhealthy");
    assert.equal(body.database, "disconnected");
    assert.equal(body.migrations, "unknown");
    assert.equal(check(body, "database").detail, "authentication failed");
    assert.ok(!res.body.includes(password), res.body);

    await app.process.stop();
    assert.match(app.process.output, /health changed/);
    assert.ok(!app.process.output.includes(password), app.process.output);
  });

  it("answers 503 promptly while PostgreSQL is down and recovers after it restarts", async function () {
    if (!pg.canRestart) skipBecause(this, "PGHOST points at an external server, which this test cannot stop");
    await migrateOk();
    const app = await startApp();
    assert.equal((await health(app)).res.status, 200);

    onCleanup(() => pg.start());
    await pg.stop();
    const { res, body } = await health(app);
    assert.equal(res.status, 503, res.body);
    assert.equal(body.status, "unhealthy");
    assert.equal(body.database, "disconnected");
    assert.equal(body.migrations, "unknown");

    await pg.start();
    const recovered = await waitForHttp(`${app.baseUrl}/health`, (r) => r.status === 200, 15_000);
    assert.equal((JSON.parse(recovered.body) as HealthBody).status, "healthy");
  });

  it("answers 503 within the check timeout when the database host black-holes", async () => {
    const port = await blackHole();
    const app = await startApp({ DATABASE_URL: `postgres://app:secret@127.0.0.1:${port}/app` });

    // The app's own check timeout fired: it answered rather than hanging with the connection.
    const { res, body } = await healthOnce(app);
    assert.equal(res.status, 503, res.body);
    assert.equal(check(body, "database").detail, "timeout");
  });

  it("exits 0 on SIGTERM before Docker would kill it, even with an idle keep-alive connection open", async function () {
    this.timeout(60_000);
    const app = await startApp();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(async () => agent.destroy());
    await new Promise<void>((resolve, reject) => {
      http
        .get(`${app.baseUrl}/`, { agent }, (res) => {
          res.resume();
          res.on("end", resolve);
        })
        .on("error", reject);
    });

    // The idle connection alone would hold the process for the 65 s keep-alive timeout; Docker
    // sends SIGKILL after the slot's stopTimeout (30 s). Killed means it did not close idle sockets.
    const exit = await app.process.stop("SIGTERM", 30_000);
    assert.deepEqual(exit, { code: 0, signal: null }, app.process.output);
    assert.match(app.process.output, /"msg":"stopped"/);
  });

  describe("with Redis", () => {
    it("is healthy while Redis answers and degraded once it is gone", async () => {
      const redis = await startRedis();
      onCleanup(() => redis.stop());
      await migrateOk();
      const app = await startApp({ REDIS_URL: redis.url() });

      const up = await health(app);
      assert.equal(up.res.status, 200, up.res.body);
      assert.equal(up.body.redis, "connected");
      assert.ok(!up.res.body.includes(redis.password));

      await redis.stop();
      const down = await health(app);
      assert.equal(down.res.status, 206, down.res.body);
      assert.equal(down.body.status, "degraded");
      assert.equal(down.body.redis, "disconnected");
      assert.equal(check(down.body, "redis").detail, "connection refused");
    });

    it("is degraded, without echoing the password, when the Redis password is wrong", async () => {
      const redis = await startRedis();
      onCleanup(() => redis.stop());
      await migrateOk();
      const wrong = `wrong-${crypto.randomBytes(8).toString("hex")}`;
      const app = await startApp({ REDIS_URL: redis.url(wrong) });

      const { res, body } = await health(app);
      assert.equal(res.status, 206, res.body);
      assert.equal(body.redis, "disconnected");
      assert.equal(check(body, "redis").detail, "authentication failed");
      assert.ok(!res.body.includes(wrong));
      await app.process.stop();
      assert.ok(!app.process.output.includes(wrong), app.process.output);
    });

    it("gives up on a black-holed Redis within the check timeout", async () => {
      await migrateOk();
      const port = await blackHole();
      const app = await startApp({ REDIS_URL: `redis://:secret@127.0.0.1:${port}/0` });

      const { res, body } = await healthOnce(app);
      assert.equal(res.status, 206, res.body);
      assert.equal(check(body, "redis").detail, "timeout");
    });
  });
});

/** Mocha's skip() takes no reason, so put it in the title where the reporter shows it. */
function skipBecause(ctx: Mocha.Context, reason: string): never {
  if (ctx.test) ctx.test.title += ` (skipped: ${reason})`;
  ctx.skip();
}
