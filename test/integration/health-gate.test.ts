/**
 * The health gate against real HTTP servers on loopback: the demo app on real PostgreSQL, and
 * small servers each test steers (status, body, delay, refusing connections, flapping). Then
 * the HealthGate provider as the engine runs it: from its serialized text, locally and through
 * a real sshd with the health endpoint reached by port forwarding.
 */
import { demoAppDir, startDemoApp } from "../support/demoApp";
import assert from "node:assert/strict";
import * as http from "node:http";
import { performance } from "node:perf_hooks";
import * as pulumi from "@pulumi/pulumi";
import type { ExecutorSpec } from "../../components/providers/executor";
import { HealthGate, type HealthGateInputs } from "../../components/providers/HealthGateResource";
import { GateFailed, type GateSpec, waitUntilStable } from "../../components/providers/healthGate";
import { callSerializedProvider, providerTextOf } from "../support/dynamicProvider";
import { type PgServer, startPostgres, uniqueDatabaseName } from "../support/postgres";
import { Background, delay, freePort, run } from "../support/process";
import { type SshServer, startSshd } from "../support/sshd";

interface Reply {
  status: number;
  /** An object is sent as JSON; a string as it is. */
  body?: unknown;
  contentType?: string;
  delayMs?: number;
}

type Responder = (path: string, req: http.IncomingMessage) => Reply;

const healthy = (version: string): Reply => ({
  status: 200,
  body: {
    status: "healthy",
    version,
    checks: [{ name: "database", status: "pass" }],
  },
});

/** A loopback HTTP server whose answers the test changes as it goes; it can also stop listening and come back. */
class SteeredServer {
  respond: Responder;
  readonly requests: { path: string; headers: http.IncomingHttpHeaders }[] = [];
  private server: http.Server | undefined;
  /** Answers held back by `delayMs`; dropped on close, so none outlives its test. */
  private readonly delayed = new Set<ReturnType<typeof setTimeout>>();

  private constructor(
    readonly port: number,
    respond: Responder,
  ) {
    this.respond = respond;
  }

  static async start(respond: Responder, port?: number): Promise<SteeredServer> {
    const server = new SteeredServer(port ?? (await freePort()), respond);
    await server.listen();
    return server;
  }

  /** A server on a port nobody listens on yet: connections are refused until `listen`. */
  static async notYetListening(respond: Responder): Promise<SteeredServer> {
    return new SteeredServer(await freePort(), respond);
  }

  url(pathname = "/health"): string {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      const pathname = (req.url ?? "/").split("?")[0];
      this.requests.push({ path: req.url ?? "/", headers: req.headers });
      const reply = this.respond(pathname, req);
      const send = () => {
        const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
        res.writeHead(reply.status, {
          "content-type":
            reply.contentType ?? (typeof reply.body === "string" ? "text/plain" : "application/json"),
        });
        res.end(text);
      };
      if (reply.delayMs) {
        const timer = setTimeout(() => {
          this.delayed.delete(timer);
          send();
        }, reply.delayMs);
        this.delayed.add(timer);
      } else send();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const fastSpec = (url: string, overrides: Partial<GateSpec> = {}): GateSpec => ({
  url,
  expectedVersion: "2.0.0",
  intervalMs: 200,
  timeoutMs: 1000,
  deadlineMs: 3000,
  successesNeeded: 2,
  stableForMs: 0,
  allowDegraded: false,
  smokeChecks: [],
  ...overrides,
});

async function gateFailure(spec: GateSpec, progress?: (message: string) => void): Promise<GateFailed> {
  try {
    await waitUntilStable(spec, progress);
  } catch (error) {
    assert.ok(error instanceof GateFailed, `expected GateFailed, got ${String(error)}`);
    return error;
  }
  assert.fail("the gate passed");
}

/** Asserts that lines matching `patterns` come in this order; other lines may come between them. */
function assertInOrder(lines: string[], patterns: RegExp[]) {
  let from = 0;
  for (const pattern of patterns) {
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    assert.ok(index >= 0, `no line matching ${pattern} after line ${from}:\n${lines.join("\n")}`);
    from = index + 1;
  }
}

/** Waits until the gate has reported a line matching `pattern`; fails if the gate ends first. */
async function untilReported(progress: string[], pattern: RegExp, gate: Promise<unknown>) {
  let ended = false;
  const end = () => {
    ended = true;
  };
  gate.then(end, end);
  while (!progress.some((m) => pattern.test(m))) {
    assert.ok(!ended, `the gate ended without reporting ${pattern}:\n${progress.join("\n")}`);
    await delay(20);
  }
}

describe("health gate against real HTTP servers", () => {
  let cleanups: (() => Promise<unknown>)[] = [];
  const onCleanup = (fn: () => Promise<unknown>) => {
    cleanups.push(fn);
  };
  const serve = async (respond: Responder) => {
    const server = await SteeredServer.start(respond);
    onCleanup(() => server.close());
    return server;
  };

  afterEach(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    for (const fn of pending) await fn();
  });

  it("passes a healthy 200 that reports the expected version", async () => {
    const server = await serve(() => healthy("2.0.0"));
    const result = await waitUntilStable(fastSpec(server.url()));
    assert.equal(result.status, "healthy");
    assert.equal(result.version, "2.0.0");
    assert.equal(result.checks, 2);
    assert.ok(!Number.isNaN(Date.parse(result.passedAt)), result.passedAt);
    assert.equal(server.requests.length, 2);
  });

  it("fails a 206 degraded answer unless degraded is allowed", async () => {
    const server = await serve(() => ({
      status: 206,
      body: {
        status: "degraded",
        version: "2.0.0",
        checks: [{ name: "redis", status: "fail", detail: "connection refused" }],
      },
    }));
    const failure = await gateFailure(fastSpec(server.url(), { deadlineMs: 400 }));
    assert.match(failure.message, /no check passed/);
    assert.match(
      failure.message,
      /last seen: HTTP 206, status degraded, version 2\.0\.0, failed checks: redis \(connection refused\); degraded, and degraded is not allowed$/,
    );

    const allowed = await waitUntilStable(fastSpec(server.url(), { allowDegraded: true }));
    assert.equal(allowed.status, "degraded");
  });

  it("fails a 503, saying what the body said and how long it waited", async () => {
    const server = await serve(() => ({
      status: 503,
      body: {
        status: "unhealthy",
        version: "2.0.0",
        database: "disconnected",
        checks: [{ name: "database", status: "fail", detail: "authentication failed" }],
      },
    }));
    const failure = await gateFailure(fastSpec(server.url(), { deadlineMs: 500 }));
    assert.match(
      failure.message,
      /^health gate for http:\/\/127\.0\.0\.1:\d+\/health \(version 2\.0\.0\) failed after \d+ ms and \d+ checks \(deadline 500 ms\): no check passed; last seen: HTTP 503, status unhealthy, version 2\.0\.0, failed checks: database \(authentication failed\); unhealthy$/,
    );
    assert.ok(failure.waitedMs >= 500, String(failure.waitedMs));
    assert.equal(failure.checks, server.requests.length);
    assert.equal(failure.last?.report?.statusCode, 503);
  });

  it("fails a healthy app running another version, naming found and expected", async () => {
    const server = await serve(() => healthy("1.9.9"));
    const failure = await gateFailure(fastSpec(server.url(), { deadlineMs: 300 }));
    assert.match(failure.message, /version 1\.9\.9 found, expected 2\.0\.0$/);
  });

  it("keeps saying what it sees while a failing slot keeps failing the same way", async () => {
    const server = await serve(() => healthy("1.9.9"));
    const progress: string[] = [];
    try {
      await waitUntilStable(fastSpec(server.url(), { deadlineMs: 1500 }), (m) => progress.push(m), 300);
      assert.fail("the gate passed");
    } catch (error) {
      assert.ok(error instanceof GateFailed, String(error));
    }
    const reminders = progress.filter((message) => message.startsWith("still not passing after "));
    // One every 300 ms of a 1500 ms wait; a busy machine may fit fewer checks, never none.
    assert.ok(reminders.length >= 1, progress.join("\n"));
    for (const reminder of reminders)
      assert.match(
        reminder,
        /^still not passing after \d+ s \(the gate fails at 2 s\): .*version 1\.9\.9 found/,
      );
  });

  it("fails an app that reports no version at all", async () => {
    const server = await serve(() => ({ status: 200, body: "OK" }));
    const failure = await gateFailure(fastSpec(server.url(), { deadlineMs: 300 }));
    assert.match(failure.message, /last seen: HTTP 200, status OK; no version reported, expected 2\.0\.0$/);
  });

  it("counts an answer slower than the per-try timeout as a failure", async () => {
    // Far beyond the deadline: only a try cut off at its timeout lets the gate end before it.
    const answersAfterMs = 30_000;
    const server = await serve(() => ({ ...healthy("2.0.0"), delayMs: answersAfterMs }));
    const failure = await gateFailure(fastSpec(server.url(), { timeoutMs: 150, deadlineMs: 600 }));
    assert.match(failure.message, /no check passed; last seen: no answer within 150 ms$/);
    assert.ok(server.requests.length >= 1, "the tries reached the server");
    assert.ok(failure.waitedMs < answersAfterMs, `gave up after ${failure.waitedMs} ms`);
  });

  it("waits through refused connections and a starting app, and passes promptly once healthy", async () => {
    const server = await SteeredServer.notYetListening(() => ({
      status: 503,
      body: {
        status: "unhealthy",
        version: "2.0.0",
        checks: [{ name: "database", status: "fail" }],
      },
    }));
    onCleanup(() => server.close());
    const refused = /^not passing: connection refused$/;
    const starting =
      /^not passing: HTTP 503, status unhealthy, version 2\.0\.0, failed checks: database; unhealthy$/;
    const progress: string[] = [];
    const spec = fastSpec(server.url(), { intervalMs: 5000, deadlineMs: 30_000 });
    const gate = waitUntilStable(spec, (m) => progress.push(m));
    // Each phase lasts a while, and ends only once the gate has seen it.
    await delay(700);
    await untilReported(progress, refused, gate);
    await server.listen();
    await delay(800);
    await untilReported(progress, starting, gate);
    server.respond = () => healthy("2.0.0");
    const healthySince = performance.now();
    const result = await gate;
    const lag = performance.now() - healthySince;

    assert.equal(result.version, "2.0.0");
    assertInOrder(progress, [
      refused,
      starting,
      /^passing: HTTP 200, status healthy, version 2\.0\.0$/,
      /^passed after \d+ ms and \d+ checks$/,
    ]);
    // Two passes are needed: polling every intervalMs would put a whole interval between them.
    // The gate polls about a tenth of the time spent in a state apart, and fast after a change.
    assert.ok(lag < spec.intervalMs, `passed ${Math.round(lag)} ms after the app turned healthy`);
  });

  it("restarts the stable window when a check fails inside it, and passes once it holds", async () => {
    // Two passes start the window; the third try, the first inside it, fails; every later one passes.
    let answers = 0;
    const server = await serve(() =>
      ++answers === 3 ? { status: 503, body: { status: "unhealthy", version: "2.0.0" } } : healthy("2.0.0"),
    );
    // When the gate reported each line: it reports synchronously, right after the try it describes.
    const progress: { at: number; message: string }[] = [];
    const spec = fastSpec(server.url(), {
      stableForMs: 600,
      intervalMs: 100,
      timeoutMs: 5000,
      deadlineMs: 30_000,
    });
    const result = await waitUntilStable(spec, (message) =>
      progress.push({ at: performance.now(), message }),
    );
    const lines = progress.map((p) => p.message);
    const restarts = progress.filter((p) =>
      /^failed \d+ ms into the stable window, starting over: HTTP 503/.test(p.message),
    );
    assert.equal(restarts.length, 1, lines.join("\n"));
    assertInOrder(lines, [
      /^2 consecutive passes; must now stay passing for 600 ms$/,
      /^failed \d+ ms into the stable window, starting over: HTTP 503/,
      /^passing: /,
      /^2 consecutive passes; must now stay passing for 600 ms$/,
      /^passed after \d+ ms and \d+ checks$/,
    ]);
    const passed = progress[progress.length - 1];
    assert.equal(passed.message, `passed after ${result.waitedMs} ms and ${result.checks} checks`);
    // The window that held started after the failure, so the pass came a whole window later.
    const sinceFailure = passed.at - restarts[0].at;
    assert.ok(sinceFailure >= spec.stableForMs, `passed ${Math.round(sinceFailure)} ms after the failure`);
  });

  it("fails by the deadline when the app keeps flapping inside the stable window", async () => {
    // Pass, pass, fail, and again: each window starts on a second pass and breaks on the very
    // next try, so it can never hold, however the tries are timed.
    let answers = 0;
    const server = await serve(() =>
      ++answers % 3 === 0
        ? { status: 503, body: { status: "unhealthy", version: "2.0.0" } }
        : healthy("2.0.0"),
    );
    const spec = fastSpec(server.url(), {
      stableForMs: 500,
      intervalMs: 100,
      timeoutMs: 5000,
      deadlineMs: 2500,
    });
    const failure = await gateFailure(spec);
    assert.match(
      failure.message,
      /\(deadline 2500 ms\): it failed inside the 500 ms stable window (once|\d+ times) \(longest hold \d+ ms\)/,
    );
    assert.match(failure.message, /; last seen: HTTP (200|503)/);
    // It keeps trying while the window could still end by the deadline.
    assert.ok(failure.waitedMs >= spec.deadlineMs - spec.stableForMs, String(failure.waitedMs));
  });

  it("fails when a smoke check answers another status, naming the path", async () => {
    const server = await serve((pathname) => {
      if (pathname === "/health") return healthy("2.0.0");
      if (pathname === "/api/items") return { status: 500, body: { error: "boom" } };
      return { status: 200, body: {} };
    });
    const spec = fastSpec(server.url(), {
      deadlineMs: 400,
      smokeChecks: [
        { path: "/", status: 200 },
        { path: "/api/items", status: 200 },
      ],
    });
    const failure = await gateFailure(spec);
    assert.match(
      failure.message,
      /last seen: HTTP 200, status healthy, version 2\.0\.0; smoke checks failed: GET \/api\/items answered 500, expected 200$/,
    );
    const passing = await waitUntilStable({
      ...spec,
      smokeChecks: [{ path: "/api/items", status: 500 }],
    });
    assert.equal(passing.status, "healthy");
  });

  it("sends credentials and headers but never shows them in the message", async () => {
    const server = await serve((_path, req) =>
      req.headers.authorization === `Basic ${Buffer.from("gate:pa55word").toString("base64")}` &&
      req.headers["x-probe-token"] === "t0ken-value"
        ? { status: 503, body: { status: "unhealthy", version: "2.0.0" } }
        : { status: 401, body: { error: "who are you" } },
    );
    const url = server.url().replace("http://", "http://gate:pa55word@");
    const failure = await gateFailure(
      fastSpec(`${url}?key=qu3ry-secret`, {
        deadlineMs: 300,
        headers: { "X-Probe-Token": "t0ken-value" },
      }),
    );
    assert.match(failure.message, /health gate for http:\/\/127\.0\.0\.1:\d+\/health\?… /);
    assert.match(failure.message, /last seen: HTTP 503/);
    for (const secret of ["pa55word", "qu3ry-secret", "t0ken-value"]) {
      assert.ok(!failure.message.includes(secret), failure.message);
    }
  });

  it("reports changes of state, not every poll", async () => {
    const server = await serve(() => healthy("2.0.0"));
    const progress: string[] = [];
    const result = await waitUntilStable(
      fastSpec(server.url(), {
        successesNeeded: 4,
        stableForMs: 800,
        intervalMs: 100,
        timeoutMs: 5000,
        deadlineMs: 30_000,
      }),
      (m) => progress.push(m),
    );
    assert.deepEqual(progress, [
      `checking ${server.url()} for version 2.0.0: 4 consecutive passes, then stable for 800 ms`,
      "passing: HTTP 200, status healthy, version 2.0.0",
      "4 consecutive passes; must now stay passing for 800 ms",
      `passed after ${result.waitedMs} ms and ${result.checks} checks`,
    ]);
    // Four passes start the window and at least one more ends it: more polls than lines.
    assert.ok(result.checks > progress.length, `${result.checks} checks`);
  });

  it("refuses an invalid spec, naming each bad field", async () => {
    await assert.rejects(
      waitUntilStable(
        fastSpec("ftp://example.test/health", {
          intervalMs: 0,
          successesNeeded: 1.5,
          smokeChecks: [{ path: "api", status: 200 }],
        }),
      ),
      {
        message:
          "invalid health gate: url must be an http:// or https:// URL; intervalMs must be a number of milliseconds above 0; successesNeeded must be an integer of 1 or more; smokeChecks[0].path must be a path starting with / and without spaces",
      },
    );
  });
});

describe("health gate on the demo app against real PostgreSQL", () => {
  const version = "3.1.0-gate";
  let pg: PgServer;
  let database: string;
  let app: Background;
  let baseUrl: string;
  const env = () => ({
    PATH: process.env.PATH,
    DATABASE_URL: pg.url(database),
  });

  before(async () => {
    pg = await startPostgres();
    database = uniqueDatabaseName("gate");
    await pg.createDatabase(database);
    const port = await freePort();
    app = await startDemoApp(port, { DATABASE_URL: pg.url(database), APP_VERSION: version, SLOT: "blue" });
    baseUrl = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await app?.stop("SIGKILL");
    await pg?.dropDatabase(database).catch(() => {});
    await pg?.dispose();
  });

  it("holds while migrations are pending and passes once migrate has run", async () => {
    const progress: string[] = [];
    const gate = waitUntilStable(
      {
        url: `${baseUrl}/health`,
        expectedVersion: version,
        intervalMs: 2000,
        timeoutMs: 5000,
        deadlineMs: 30_000,
        successesNeeded: 2,
        stableForMs: 500,
        allowDegraded: false,
        smokeChecks: [{ path: "/", status: 200 }],
      },
      (m) => progress.push(m),
    );
    const pending =
      /^not passing: HTTP 206, status degraded, version 3\.1\.0-gate, failed checks: migrations \(2 pending: 001_create_items, 002_add_items_created_at\); degraded, and degraded is not allowed$/;
    const passing = /^passing: HTTP 200, status healthy, version 3\.1\.0-gate$/;
    // However slowly the app's first checks answer, the gate has seen both migrations pending.
    await untilReported(progress, pending, gate);
    const beforeMigrate = [...progress];
    const migrated = await run(process.execPath, ["migrate.js"], {
      cwd: demoAppDir,
      env: env(),
    });
    assert.equal(migrated.code, 0, migrated.output);

    const result = await gate;
    assert.equal(result.status, "healthy");
    assert.equal(result.version, version);
    assert.ok(!beforeMigrate.some((m) => passing.test(m)), beforeMigrate.join("\n"));
    // migrate commits each migration on its own, so "1 pending" may come between.
    assertInOrder(progress, [pending, passing, /^passed after \d+ ms and \d+ checks$/]);
  });

  it("fails a gate that expects another version, naming both", async () => {
    // The app bounds its own database checks at 1 s: with a longer per-try timeout every try
    // gets an answer. Settled first, so no try meets a pool still opening connections.
    const timeoutMs = 5000;
    await waitUntilStable(
      fastSpec(`${baseUrl}/health`, {
        expectedVersion: version,
        successesNeeded: 1,
        timeoutMs,
        deadlineMs: 30_000,
      }),
    );
    const failure = await gateFailure(
      fastSpec(`${baseUrl}/health`, { expectedVersion: "3.2.0", timeoutMs, deadlineMs: 500 }),
    );
    assert.match(
      failure.message,
      /^health gate for http:\/\/127\.0\.0\.1:\d+\/health \(version 3\.2\.0\) failed /,
    );
    // A healthy answer fails on its version alone, naming both. Only a database check that
    // outran the app's own 1 s bound could have made the last answer fail on something else.
    assert.match(
      failure.message,
      /; last seen: (HTTP 200, status healthy, version 3\.1\.0-gate; version 3\.1\.0-gate found, expected 3\.2\.0|HTTP 206, status degraded, version 3\.1\.0-gate, failed checks: .+; degraded, and degraded is not allowed|HTTP 503, status unhealthy, version 3\.1\.0-gate, failed checks: .+; unhealthy)$/,
    );
  });
});

describe("HealthGate provider, from the text the engine stores", () => {
  let cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    for (const fn of pending) await fn();
  });
  const serve = async (respond: Responder) => {
    const server = await SteeredServer.start(respond);
    cleanups.push(() => server.close());
    return server;
  };

  const inputsFor = (port: number, overrides: Partial<HealthGateInputs> = {}): HealthGateInputs => ({
    executor: { kind: "local" },
    host: "127.0.0.1",
    port,
    path: "/health",
    expectedVersion: "2.0.0",
    intervalMs: 200,
    timeoutMs: 1000,
    deadlineMs: 3000,
    successesNeeded: 2,
    stableForMs: 100,
    allowDegraded: false,
    smokeChecks: [{ path: "/", status: 200 }],
    guards: { image: "sha256:aaaa", container: "c-1" },
    ...overrides,
  });

  /** Registered once under mocks; every call below loads this text in a fresh plain-node process. */
  let text: string;
  before(async () => {
    text = await providerTextOf(
      () =>
        new HealthGate("app-green-gate", {
          ...inputsFor(1),
          smokeChecks: [{ path: "/", status: 200 }],
        }),
    );
  });

  const call = (method: "check" | "diff" | "create" | "update", ...args: unknown[]) =>
    callSerializedProvider(text, method, ...args);

  it("checks inputs, naming each bad one", async () => {
    const good = inputsFor(8080);
    assert.deepEqual(await call("check", {}, good), {
      inputs: good,
      failures: [],
    });

    const bad = {
      ...good,
      executor: {
        kind: "ssh",
        host: "vps",
        port: 22,
        user: "deploy",
        hostKey: "nope",
        privateKey: "KEY-TEXT",
      },
      port: 70000,
      path: "health",
      expectedVersion: "",
      stableForMs: -1,
      smokeChecks: [{ path: "/ok", status: 99 }],
      guards: {},
    };
    const checked = (await call("check", {}, bad)) as {
      failures: { property: string; reason: string }[];
    };
    assert.deepEqual(
      checked.failures.map((f) => f.property),
      ["executor", "port", "path", "guards", "expectedVersion", "stableForMs", "smokeChecks[0].status"],
    );
    assert.ok(!JSON.stringify(checked.failures).includes("KEY-TEXT"));
  });

  it("leaves values that a preview does not know yet for later", async () => {
    const previewed = {
      ...inputsFor(8080),
      port: pulumi.runtime.unknownValue,
      guards: pulumi.runtime.unknownValue,
    };
    assert.deepEqual(await call("check", {}, previewed), { inputs: previewed, failures: [] });
  });

  it("passes against a real server, keeping what the next diff needs and no key", async () => {
    const server = await serve((pathname) =>
      pathname === "/health" ? healthy("2.0.0") : { status: 200, body: {} },
    );
    const inputs = inputsFor(server.port);
    const created = (await call("create", inputs)) as {
      id: string;
      outs: Record<string, unknown>;
    };
    assert.equal(created.outs.status, "healthy");
    assert.equal(created.outs.version, "2.0.0");
    assert.equal(created.outs.target, "local");
    assert.deepEqual(created.outs.guards, inputs.guards);
    assert.ok((created.outs.checks as number) >= 2);
    assert.ok(!("executor" in created.outs));
    assert.ok(
      server.requests.some((r) => r.path === "/"),
      "the smoke check ran",
    );

    const diff = (olds: unknown, news: HealthGateInputs) => call("diff", created.id, olds, news);
    assert.deepEqual(await diff(created.outs, inputs), {
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    // Timing and keys are how it checks, not what it vouches for.
    assert.deepEqual(
      await diff(created.outs, {
        ...inputs,
        stableForMs: 60_000,
        deadlineMs: 1,
      }),
      {
        changes: false,
        replaces: [],
        deleteBeforeReplace: false,
      },
    );
    // The state comes back from the engine with its keys in any order.
    const reordered = {
      ...created.outs,
      guards: { container: "c-1", image: "sha256:aaaa" },
    };
    assert.deepEqual(await diff(reordered, inputs), {
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    for (const [change, replaces] of [
      [{ guards: { image: "sha256:bbbb", container: "c-1" } }, ["guards"]],
      [{ guards: { image: "sha256:aaaa", container: "c-2" } }, ["guards"]],
      [{ expectedVersion: "2.0.1" }, ["expectedVersion"]],
      [{ port: server.port + 1 }, ["port"]],
      [
        {
          executor: {
            kind: "ssh",
            host: "vps",
            port: 22,
            user: "deploy",
            hostKey: "ssh-ed25519 AAAA",
            privateKey: "k",
          },
        },
        ["executor"],
      ],
    ] as [Partial<HealthGateInputs>, string[]][]) {
      assert.deepEqual(
        await diff(created.outs, { ...inputs, ...change }),
        { changes: true, replaces, deleteBeforeReplace: false },
        JSON.stringify(change),
      );
    }

    const updated = (await call("update", created.id, created.outs, inputs)) as {
      outs: Record<string, unknown>;
    };
    assert.ok((updated.outs.passedAt as string) > (created.outs.passedAt as string));
  });

  it("fails create with what it saw, so the engine records no gate", async () => {
    const server = await serve(() => healthy("1.9.9"));
    await assert.rejects(call("create", inputsFor(server.port, { deadlineMs: 400 })), {
      message: new RegExp(
        `^health gate for http://127\\.0\\.0\\.1:${server.port}/health \\(version 2\\.0\\.0\\) failed after \\d+ ms and \\d+ checks \\(deadline 400 ms\\): no check passed; last seen: HTTP 200, status healthy, version 1\\.9\\.9; version 1\\.9\\.9 found, expected 2\\.0\\.0$`,
      ),
    });
  });

  describe("through ssh, with the endpoint reached by port forwarding", () => {
    let sshd: SshServer;
    before(async () => {
      sshd = await startSshd();
    });
    after(async () => {
      await sshd?.stop();
    });
    const sshExecutor = (): ExecutorSpec => ({
      kind: "ssh",
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      hostKey: sshd.hostKey,
      privateKey: sshd.privateKey,
    });

    it("passes a slot that only listens on the target's loopback", async () => {
      const server = await serve((pathname) =>
        pathname === "/health" ? healthy("2.0.0") : { status: 200, body: {} },
      );
      const created = (await call("create", inputsFor(server.port, { executor: sshExecutor() }))) as {
        outs: Record<string, unknown>;
      };
      assert.equal(created.outs.target, `ssh ${sshd.user}@${sshd.host}:${sshd.port}`);
      assert.equal(created.outs.status, "healthy");
      assert.ok(!JSON.stringify(created).includes(sshd.privateKey.split("\n")[1]));
      assert.match(sshd.log(), /Accepted publickey/);
    });

    it("fails on a port nothing listens on, without the key in the message", async () => {
      const port = await freePort();
      // Each try waits for the tunnel to report the failed connect, however slowly ssh does it.
      const inputs = inputsFor(port, { executor: sshExecutor(), timeoutMs: 10_000, deadlineMs: 400 });
      await assert.rejects(call("create", inputs), (error: Error) => {
        // ssh2 closes or resets the tunnelled socket when the remote connect fails, depending on timing.
        assert.match(
          error.message,
          /no check passed; last seen: connection (closed before a response|reset)$/,
        );
        assert.ok(!error.message.includes(sshd.privateKey.split("\n")[1]), error.message);
        return true;
      });
    });

    it("refuses a target whose host key is not the pinned one", async () => {
      const executor = { ...sshExecutor(), hostKey: sshd.wrongHostKey };
      await assert.rejects(
        call("create", inputsFor(1, { executor })),
        /host key mismatch, refusing to connect/,
      );
    });
  });
});
