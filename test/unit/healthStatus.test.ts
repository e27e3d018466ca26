import assert from "node:assert/strict";
import {
  type HealthResponse,
  parseHealthResponse,
  redact,
  verdictOfWord,
} from "../../components/providers/healthStatus";

const json = (
  statusCode: number,
  body: unknown,
  headers: HealthResponse["headers"] = {},
): HealthResponse => ({
  statusCode,
  headers: { "content-type": "application/json; charset=utf-8", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

const text = (statusCode: number, body: string, contentType = "text/plain"): HealthResponse => ({
  statusCode,
  headers: { "content-type": contentType },
  body,
});

/** The demo app's body (examples/demo-app/lib/health.js) for one situation. */
const demoBody = (status: string, overrides: Record<string, unknown> = {}) => ({
  status,
  version: "1.4.2",
  slot: "green",
  database: "connected",
  redis: "not-configured",
  migrations: "up-to-date",
  uptime: 12.5,
  checks: [
    { name: "database", status: "pass", detail: "ok" },
    { name: "redis", status: "pass", detail: "REDIS_URL not set" },
    { name: "migrations", status: "pass", detail: "2 applied" },
  ],
  ...overrides,
});

describe("parseHealthResponse", () => {
  describe("the demo app's format", () => {
    it("reads a healthy 200 with its version, database, migrations and checks", () => {
      const report = parseHealthResponse(json(200, demoBody("healthy")));
      assert.equal(report.verdict, "healthy");
      assert.equal(report.statusCode, 200);
      assert.equal(report.status, "healthy");
      assert.equal(report.version, "1.4.2");
      assert.equal(report.database, "connected");
      assert.equal(report.migrations, "up-to-date");
      assert.deepEqual(
        report.checks.map((c) => [c.name, c.status]),
        [
          ["database", "pass"],
          ["redis", "pass"],
          ["migrations", "pass"],
        ],
      );
      assert.deepEqual(report.failedChecks, []);
      assert.equal(report.summary, "HTTP 200, status healthy, version 1.4.2");
    });

    it("reads 206 with pending migrations as degraded and names the failed check", () => {
      const report = parseHealthResponse(
        json(
          206,
          demoBody("degraded", {
            migrations: "pending",
            checks: [
              { name: "database", status: "pass", detail: "ok" },
              { name: "redis", status: "pass", detail: "REDIS_URL not set" },
              {
                name: "migrations",
                status: "fail",
                detail: "1 pending: 003_add_index",
              },
            ],
          }),
        ),
      );
      assert.equal(report.verdict, "degraded");
      assert.equal(report.migrations, "pending");
      assert.deepEqual(report.failedChecks, ["migrations"]);
      assert.equal(
        report.summary,
        "HTTP 206, status degraded, version 1.4.2, failed checks: migrations (1 pending: 003_add_index)",
      );
    });

    it("reads 503 with the database down as unhealthy, naming every failed check", () => {
      const report = parseHealthResponse(
        json(
          503,
          demoBody("unhealthy", {
            database: "disconnected",
            migrations: "unknown",
            checks: [
              {
                name: "database",
                status: "fail",
                detail: "authentication failed",
              },
              { name: "redis", status: "pass", detail: "ok" },
              {
                name: "migrations",
                status: "fail",
                detail: "database unavailable",
              },
            ],
          }),
        ),
      );
      assert.equal(report.verdict, "unhealthy");
      assert.equal(report.database, "disconnected");
      assert.deepEqual(report.failedChecks, ["database", "migrations"]);
      assert.match(
        report.summary,
        /^HTTP 503, status unhealthy, version 1\.4\.2, failed checks: database \(authentication failed\), migrations \(database unavailable\)$/,
      );
    });
  });

  describe("status codes", () => {
    it("takes 200 and 204 with no body as healthy, 206 as degraded, 5xx as unhealthy", () => {
      assert.equal(parseHealthResponse(text(200, "")).verdict, "healthy");
      assert.equal(parseHealthResponse(text(204, "")).verdict, "healthy");
      assert.equal(parseHealthResponse(text(206, "")).verdict, "degraded");
      assert.equal(parseHealthResponse(text(500, "")).verdict, "unhealthy");
      assert.equal(parseHealthResponse(text(503, "Service Unavailable")).verdict, "unhealthy");
    });

    it("takes redirects and client errors as unhealthy, not as a passing answer", () => {
      for (const code of [301, 302, 401, 404, 429]) {
        assert.equal(parseHealthResponse(text(code, "")).verdict, "unhealthy", String(code));
      }
    });

    it("never lets a body rescue a failing status code", () => {
      assert.equal(parseHealthResponse(json(503, { status: "healthy", version: "1" })).verdict, "unhealthy");
      assert.equal(parseHealthResponse(json(206, { status: "healthy", version: "1" })).verdict, "degraded");
    });

    it("never lets a 200 rescue a failing body", () => {
      assert.equal(parseHealthResponse(json(200, { status: "unhealthy" })).verdict, "unhealthy");
      assert.equal(parseHealthResponse(json(200, { status: "degraded" })).verdict, "degraded");
    });
  });

  describe("status words", () => {
    const cases: [string, string][] = [
      ["healthy", "healthy"],
      ["ok", "healthy"],
      ["OK", "healthy"],
      ["UP", "healthy"],
      ["pass", "healthy"],
      ["passing", "healthy"],
      ["green", "healthy"],
      ["degraded", "degraded"],
      ["warn", "degraded"],
      ["warning", "degraded"],
      ["yellow", "degraded"],
      ["unhealthy", "unhealthy"],
      ["fail", "unhealthy"],
      ["DOWN", "unhealthy"],
      ["error", "unhealthy"],
      ["OUT_OF_SERVICE", "unhealthy"],
      ["out-of-service", "unhealthy"],
      ["red", "unhealthy"],
    ];
    for (const [word, verdict] of cases) {
      it(`reads status ${JSON.stringify(word)} as ${verdict}`, () => {
        assert.equal(verdictOfWord(word), verdict);
        assert.equal(parseHealthResponse(json(200, { status: word, version: "1" })).verdict, verdict);
      });
    }

    it("reads a boolean `healthy` field when there is no status", () => {
      assert.equal(parseHealthResponse(json(200, { healthy: true, version: "1" })).verdict, "healthy");
      assert.equal(parseHealthResponse(json(200, { healthy: false, version: "1" })).verdict, "unhealthy");
    });

    it("calls an unknown status word unreadable and says which word", () => {
      const report = parseHealthResponse(json(200, { status: "UNKNOWN", version: "1" }));
      assert.equal(report.verdict, "unreadable");
      assert.equal(report.problem, 'unknown status "UNKNOWN"');
      assert.match(report.summary, /unknown status "UNKNOWN"/);
    });

    it("calls a non-string status unreadable, but keeps a failing code as unhealthy", () => {
      assert.equal(parseHealthResponse(json(200, { status: { code: "UP" } })).verdict, "unreadable");
      assert.equal(parseHealthResponse(json(503, { status: { code: "UP" } })).verdict, "unhealthy");
    });
  });

  describe("IETF health+json draft", () => {
    const body = {
      status: "pass",
      version: "1",
      releaseId: "1.2.2",
      checks: {
        "uptime:duration": [{ componentType: "system", observedValue: 1209600, status: "pass" }],
        "postgres:connections": [
          { componentId: "6fd416e0", status: "pass", observedValue: 12 },
          {
            componentId: "a2ee8d2c",
            status: "warn",
            observedValue: 95,
            output: "connection pool nearly full",
          },
        ],
      },
    };

    it("reads pass/warn/fail, releaseId and checks as a map of arrays (worst entry wins)", () => {
      const report = parseHealthResponse(json(200, body, { "content-type": "application/health+json" }));
      assert.equal(report.version, "1");
      assert.equal(report.releaseId, "1.2.2");
      assert.deepEqual(
        report.checks.map((c) => [c.name, c.status]),
        [
          ["uptime:duration", "pass"],
          ["postgres:connections", "warn"],
        ],
      );
      assert.deepEqual(report.failedChecks, ["postgres:connections"]);
      // `pass` beside a warning check is a body that contradicts itself: trust the worse.
      assert.equal(report.verdict, "degraded");
      assert.match(report.summary, /failed checks: postgres:connections \(connection pool nearly full\)/);
    });

    it("reads status fail as unhealthy", () => {
      const report = parseHealthResponse(json(503, { ...body, status: "fail" }));
      assert.equal(report.verdict, "unhealthy");
    });
  });

  describe("Spring Boot actuator", () => {
    it("reads UP with components and build.version", () => {
      const report = parseHealthResponse(
        json(200, {
          status: "UP",
          build: { version: "3.1.0" },
          components: {
            db: { status: "UP", details: { database: "PostgreSQL" } },
            diskSpace: { status: "UP" },
          },
        }),
      );
      assert.equal(report.verdict, "healthy");
      assert.equal(report.version, "3.1.0");
      assert.deepEqual(
        report.checks.map((c) => [c.name, c.status]),
        [
          ["db", "pass"],
          ["diskSpace", "pass"],
        ],
      );
    });

    it("reads DOWN with a failing component", () => {
      const report = parseHealthResponse(
        json(503, {
          status: "DOWN",
          components: { db: { status: "DOWN" }, ping: { status: "UP" } },
        }),
      );
      assert.equal(report.verdict, "unhealthy");
      assert.deepEqual(report.failedChecks, ["db"]);
    });
  });

  describe("checks", () => {
    it("reads a map of name to status word or boolean", () => {
      const report = parseHealthResponse(
        json(200, {
          status: "ok",
          version: "2",
          checks: { cache: "ok", queue: false, search: "down" },
        }),
      );
      assert.deepEqual(
        report.checks.map((c) => [c.name, c.status]),
        [
          ["cache", "pass"],
          ["queue", "fail"],
          ["search", "fail"],
        ],
      );
      assert.deepEqual(report.failedChecks, ["queue", "search"]);
      assert.equal(report.verdict, "degraded");
    });

    it("lets checks alone decide when the body has no status", () => {
      const failing = parseHealthResponse(
        json(200, { version: "2", checks: [{ name: "db", status: "fail" }] }),
      );
      assert.equal(failing.verdict, "unhealthy");
      const warning = parseHealthResponse(
        json(200, { version: "2", checks: [{ name: "db", status: "warn" }] }),
      );
      assert.equal(warning.verdict, "degraded");
      const passing = parseHealthResponse(
        json(200, { version: "2", checks: [{ name: "db", status: "pass" }] }),
      );
      assert.equal(passing.verdict, "healthy");
    });

    it("names unnamed checks by position and ignores checks whose status it cannot read", () => {
      const report = parseHealthResponse(
        json(200, {
          status: "ok",
          version: "2",
          checks: [{ status: "pass" }, { name: "x", status: "maybe" }, 7],
        }),
      );
      assert.deepEqual(
        report.checks.map((c) => [c.name, c.status]),
        [
          ["check 1", "pass"],
          ["x", "unknown"],
        ],
      );
      assert.equal(report.verdict, "healthy");
    });
  });

  describe("database and migrations fields", () => {
    it("counts a disconnected database as a failed check when no check names it", () => {
      const report = parseHealthResponse(json(200, { version: "1", database: "disconnected" }));
      assert.equal(report.verdict, "unhealthy");
      assert.deepEqual(report.failedChecks, ["database"]);
      assert.match(report.summary, /failed checks: database \(disconnected\)/);
    });

    it("counts pending migrations as degraded and failed ones as unhealthy", () => {
      assert.equal(
        parseHealthResponse(json(200, { version: "1", migrations: "pending" })).verdict,
        "degraded",
      );
      assert.equal(
        parseHealthResponse(json(200, { version: "1", migrations: "dirty" })).verdict,
        "unhealthy",
      );
      assert.equal(
        parseHealthResponse(json(200, { version: "1", migrations: "up-to-date" })).verdict,
        "healthy",
      );
    });

    it("reads the fields from objects with a status, and leaves words it does not know alone", () => {
      const report = parseHealthResponse(
        json(200, {
          status: "healthy",
          version: "1",
          database: { status: "up" },
          migrations: { state: "unknown" },
        }),
      );
      assert.equal(report.database, "up");
      assert.equal(report.migrations, "unknown");
      assert.equal(report.verdict, "healthy");
    });
  });

  describe("versions", () => {
    it("reads numeric versions as text", () => {
      assert.equal(parseHealthResponse(json(200, { status: "ok", version: 42 })).version, "42");
    });

    it("falls back to app.version, then to the X-App-Version header", () => {
      assert.equal(parseHealthResponse(json(200, { status: "ok", app: { version: "5.0" } })).version, "5.0");
      const fromHeader = parseHealthResponse(json(200, { status: "ok" }, { "x-app-version": "6.1" }));
      assert.equal(fromHeader.version, "6.1");
      const bodyWins = parseHealthResponse(
        json(200, { status: "ok", version: "7" }, { "X-App-Version": "6.1" }),
      );
      assert.equal(bodyWins.version, "7");
    });

    it("has no version when nothing reports one", () => {
      assert.equal(parseHealthResponse(json(200, { status: "ok" })).version, undefined);
    });
  });

  describe("plain text and broken bodies", () => {
    it("reads a plain `OK` as healthy and shows the word", () => {
      const report = parseHealthResponse(text(200, "OK\n", "text/plain"));
      assert.equal(report.verdict, "healthy");
      assert.equal(report.summary, "HTTP 200, status OK");
    });

    it("reads JSON without a JSON content type when the body is an object", () => {
      const report = parseHealthResponse(text(200, '{"status":"healthy","version":"3"}', "text/plain"));
      assert.equal(report.verdict, "healthy");
      assert.equal(report.version, "3");
    });

    it("calls invalid JSON unreadable and shows a short excerpt", () => {
      const report = parseHealthResponse(json(200, '{"status": "healthy", '));
      assert.equal(report.verdict, "unreadable");
      assert.equal(report.problem, "body is not valid JSON");
      assert.match(report.summary, /body: \{"status": "healthy",$/);
    });

    it("calls a JSON array unreadable", () => {
      assert.equal(parseHealthResponse(json(200, "[1,2]")).problem, "JSON body is not an object");
    });

    it("calls an HTML page unreadable even with 200 (a catch-all route is not a health endpoint)", () => {
      const report = parseHealthResponse(
        text(200, "<!doctype html><html><body>app</body></html>", "text/html"),
      );
      assert.equal(report.verdict, "unreadable");
      assert.match(report.summary, /an HTML page/);
    });

    it("shows at most 120 characters of a long body, on one line", () => {
      const report = parseHealthResponse(text(503, `${"x".repeat(5000)}\n${"y".repeat(5000)}`));
      assert.equal(report.verdict, "unhealthy");
      const excerpt = report.summary.replace(/^HTTP 503, body: /, "");
      assert.equal(excerpt.length, 120);
      assert.ok(!report.summary.includes("\n"));
      assert.ok(report.summary.length < 160, report.summary);
    });

    it("refuses a JSON body beyond the size limit", () => {
      const report = parseHealthResponse(json(200, { status: "ok", padding: "p".repeat(70_000) }));
      assert.equal(report.verdict, "unreadable");
      assert.match(report.problem ?? "", /larger than 65536 bytes/);
    });

    it("shortens long check details and status words", () => {
      const report = parseHealthResponse(
        json(503, {
          status: "unhealthy",
          checks: [{ name: "db", status: "fail", detail: "e".repeat(500) }],
        }),
      );
      assert.ok(report.summary.length < 160, report.summary);
      assert.equal(report.checks[0].detail?.length, 80);
    });
  });

  describe("secrets", () => {
    it("never shows URL credentials or secret-looking values from a body", () => {
      const report = parseHealthResponse(
        json(503, {
          status: "unhealthy",
          checks: [
            {
              name: "database",
              status: "fail",
              detail: "connect failed: postgres://app:hunter2@db:5432/app",
            },
            { name: "api", status: "fail", output: "token=abc123def rejected" },
          ],
        }),
      );
      assert.ok(!report.summary.includes("hunter2"), report.summary);
      assert.ok(!report.summary.includes("abc123def"), report.summary);
      assert.match(report.summary, /postgres:\/\/\*\*\*@db:5432\/app/);
    });

    it("never shows header values other than the version", () => {
      const report = parseHealthResponse(
        json(
          200,
          { status: "ok", version: "1" },
          { "set-cookie": "session=s3cr3t", authorization: "Bearer zzz" },
        ),
      );
      assert.ok(!/s3cr3t|zzz/.test(JSON.stringify(report)));
    });

    it("redacts quoted and unquoted key=value secrets", () => {
      assert.equal(redact('{"password":"p4ss","user":"u"}'), '{"password":***,"user":"u"}');
      assert.equal(redact("api_key: xyz; db_password=abc next"), "api_key: ***; db_password=*** next");
      assert.equal(
        redact("https://user:pw@host/x and redis://:pw@r:6379"),
        "https://***@host/x and redis://***@r:6379",
      );
    });
  });
});
