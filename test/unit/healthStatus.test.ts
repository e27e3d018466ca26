import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CheckStatus,
  type HealthResponse,
  type HealthVerdict,
  maxHealthBodyBytes,
  parseHealthResponse,
  redact,
  verdictOfWord,
  worstVerdict,
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

const raw = (statusCode: number, body: string, headers: HealthResponse["headers"] = {}): HealthResponse => ({
  statusCode,
  headers,
  body,
});

const verdictOf = (response: HealthResponse) => parseHealthResponse(response).verdict;

const namesAndStatuses = (response: HealthResponse) =>
  parseHealthResponse(response).checks.map((c) => [c.name, c.status]);

/** From best to worst, as the gate ranks them. */
const verdictOrder: HealthVerdict[] = ["healthy", "degraded", "unhealthy", "unreadable"];

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

  describe("Togather's format (top-level database and migrations, no checks)", () => {
    const togather = (overrides: Record<string, unknown> = {}) => ({
      status: "healthy",
      version: "0.9.1",
      database: "connected",
      migrations: "up-to-date",
      jobs: { pending: 3, failed: 0 },
      uptime: 3600,
      ...overrides,
    });

    it("reads a healthy answer, turning database and migrations into checks", () => {
      const report = parseHealthResponse(json(200, togather()));
      assert.equal(report.verdict, "healthy");
      assert.deepEqual(report.checks, [
        { name: "database", status: "pass", detail: "connected" },
        { name: "migrations", status: "pass", detail: "up-to-date" },
      ]);
      assert.equal(report.summary, "HTTP 200, status healthy, version 0.9.1");
    });

    it("does not let `status: healthy` hide a broken database or pending migrations", () => {
      const down = parseHealthResponse(json(200, togather({ database: "error" })));
      assert.equal(down.verdict, "degraded");
      assert.deepEqual(down.failedChecks, ["database"]);
      assert.equal(down.summary, "HTTP 200, status healthy, version 0.9.1, failed checks: database (error)");
      assert.equal(verdictOf(json(200, togather({ migrations: "pending" }))), "degraded");
    });

    it("reads the database and migrations alone as unhealthy when the body has no status", () => {
      assert.equal(
        verdictOf(json(200, togather({ status: undefined, database: "unreachable" }))),
        "unhealthy",
      );
      assert.equal(verdictOf(json(200, togather({ status: undefined, migrations: "dirty" }))), "unhealthy");
    });
  });

  describe("Unite-Hub's /api/health/system (checks array, 200 / 206 / 503)", () => {
    const uniteHub = (status: string, checks: Record<string, unknown>[]) => ({
      status,
      timestamp: "2024-05-01T10:00:00.000Z",
      version: "2.3.0",
      checks,
    });
    const database = { name: "database", status: "healthy", latency: 12 };
    const redisDown = { name: "redis", status: "unhealthy", message: "connect ECONNREFUSED 10.0.0.5:6379" };

    it("reads 200 with healthy checks as healthy", () => {
      const report = parseHealthResponse(
        json(200, uniteHub("healthy", [database, { name: "redis", status: "healthy" }])),
      );
      assert.equal(report.verdict, "healthy");
      assert.deepEqual(report.failedChecks, []);
    });

    it("reads 206 degraded with a failing check as degraded and names it with its message", () => {
      const report = parseHealthResponse(json(206, uniteHub("degraded", [database, redisDown])));
      assert.equal(report.verdict, "degraded");
      assert.deepEqual(report.checks, [
        { name: "database", status: "pass" },
        { name: "redis", status: "fail", detail: "connect ECONNREFUSED 10.0.0.5:6379" },
      ]);
      assert.equal(
        report.summary,
        "HTTP 206, status degraded, version 2.3.0, failed checks: redis (connect ECONNREFUSED 10.0.0.5:6379)",
      );
    });

    it("reads 503 unhealthy as unhealthy, whatever the checks say", () => {
      assert.equal(verdictOf(json(503, uniteHub("unhealthy", [database, redisDown]))), "unhealthy");
      assert.equal(verdictOf(json(503, uniteHub("healthy", [database]))), "unhealthy");
      assert.equal(verdictOf(json(200, uniteHub("unhealthy", [database]))), "unhealthy");
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

    it("takes every other 2xx as healthy", () => {
      for (const code of [201, 202, 203, 299]) {
        assert.equal(verdictOf(text(code, "")), "healthy", String(code));
      }
    });

    it("takes informational answers, redirects and client errors as unhealthy, not as a passing answer", () => {
      for (const code of [100, 101, 199, 300, 301, 302, 304, 401, 404, 429]) {
        assert.equal(verdictOf(text(code, "")), "unhealthy", String(code));
      }
    });

    it("never lets a body rescue a failing status code", () => {
      assert.equal(parseHealthResponse(json(503, { status: "healthy", version: "1" })).verdict, "unhealthy");
      assert.equal(parseHealthResponse(json(206, { status: "healthy", version: "1" })).verdict, "degraded");
      assert.equal(
        verdictOf(json(206, { version: "1", checks: [{ name: "db", status: "pass" }] })),
        "degraded",
      );
    });

    /** Bodies that would pass on a 200, in every format, and anything else a server might send. */
    const anyBody = fc.oneof(
      fc.constantFrom(
        json(200, demoBody("healthy")),
        json(200, { status: "UP", components: { db: { status: "UP" } } }),
        json(
          200,
          { status: "pass", checks: { "db:ping": [{ status: "pass" }] } },
          { "content-type": "application/health+json" },
        ),
        json(200, { healthy: true }),
        json(200, "{not json"),
        text(200, "OK"),
        text(200, ""),
        text(200, "<html>ok</html>", "text/html"),
      ),
      fc.string().map((body) => text(200, body)),
      fc.json().map((body) => json(200, body)),
    );

    it("never lets any body rescue a code outside 2xx (property)", () => {
      const failingCode = fc.integer({ min: 0, max: 999 }).filter((code) => code < 200 || code >= 300);
      fc.assert(
        fc.property(failingCode, anyBody, (statusCode, response) => {
          assert.equal(verdictOf({ ...response, statusCode }), "unhealthy");
        }),
      );
    });

    it("never lets any body make a 206 healthy (property)", () => {
      fc.assert(
        fc.property(anyBody, (response) => {
          assert.notEqual(verdictOf({ ...response, statusCode: 206 }), "healthy");
        }),
      );
    });

    it("never lets a 200 rescue a failing body", () => {
      assert.equal(parseHealthResponse(json(200, { status: "unhealthy" })).verdict, "unhealthy");
      assert.equal(parseHealthResponse(json(200, { status: "degraded" })).verdict, "degraded");
    });
  });

  describe("status words", () => {
    // Every word, then how the real systems spell them: Spring's capitals, sloppy case, spacing and separators.
    const cases: [HealthVerdict, string[]][] = [
      ["healthy", ["healthy", "ok", "up", "pass", "passed", "passing", "green", "available", "ready"]],
      ["healthy", ["OK", "UP", "Healthy", " ok \n"]],
      ["degraded", ["degraded", "warn", "warning", "yellow", "partial", "Degraded", "WARNING"]],
      [
        "unhealthy",
        [
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
        ],
      ],
      [
        "unhealthy",
        ["DOWN", "Critical", "OUT_OF_SERVICE", "out-of-service", "Out Of Service", "out - of - service"],
      ],
    ];
    for (const [verdict, words] of cases) {
      for (const word of words) {
        it(`reads status ${JSON.stringify(word)} as ${verdict}`, () => {
          assert.equal(verdictOfWord(word), verdict);
          assert.equal(verdictOf(json(200, { status: word, version: "1" })), verdict);
        });
      }
    }

    it("knows no other words, so an app's own vocabulary is never taken as healthy", () => {
      for (const word of [
        "",
        "unknown",
        "okay?",
        "not ok",
        "ok!",
        "starting",
        "maintenance",
        "true",
        "1",
        "upp",
      ]) {
        assert.equal(verdictOfWord(word), undefined, word);
        assert.equal(verdictOf(json(200, { status: word })), "unreadable", word);
      }
    });

    it("reads the status from `state` too, and skips a null `status`", () => {
      assert.equal(verdictOf(json(200, { state: "DOWN" })), "unhealthy");
      assert.equal(verdictOf(json(200, { status: null, state: "degraded" })), "degraded");
      assert.equal(parseHealthResponse(json(200, { status: null, state: "UP" })).status, "UP");
    });

    it("reads a boolean `healthy` field when there is no status, and shows it", () => {
      const healthy = parseHealthResponse(json(200, { healthy: true, version: "1" }));
      assert.equal(healthy.verdict, "healthy");
      assert.equal(healthy.summary, "HTTP 200, status true, version 1");
      const unhealthy = parseHealthResponse(json(200, { healthy: false, version: "1" }));
      assert.equal(unhealthy.verdict, "unhealthy");
      assert.equal(unhealthy.status, "false");
      // A boolean says nothing better than the status code.
      assert.equal(verdictOf(json(206, { healthy: true })), "degraded");
    });

    it("reads boolean `ok` and `success` fields as the status when there is none", () => {
      for (const key of ["ok", "success"]) {
        assert.equal(verdictOf(json(200, { [key]: false })), "unhealthy", key);
        assert.equal(verdictOf(json(200, { [key]: true })), "healthy", key);
        assert.equal(parseHealthResponse(json(200, { [key]: false })).status, "false", key);
        // A status word, where there is one, is what the app says.
        assert.equal(verdictOf(json(200, { status: "degraded", [key]: true })), "degraded", key);
      }
      assert.equal(verdictOf(json(200, { healthy: true, ok: false })), "healthy");
    });

    it("does not let `migrations: false` pass under a healthy status", () => {
      const behind = parseHealthResponse(json(200, { status: "healthy", migrations: false }));
      assert.equal(behind.verdict, "degraded");
      assert.deepEqual(behind.failedChecks, ["migrations"]);
    });

    it("calls an unknown status word unreadable and says which word", () => {
      const report = parseHealthResponse(json(200, { status: "UNKNOWN", version: "1" }));
      assert.equal(report.verdict, "unreadable");
      assert.equal(report.problem, 'unknown status "UNKNOWN"');
      assert.match(report.summary, /unknown status "UNKNOWN"/);
    });

    it("calls an unknown status word unreadable on 206 too, and unhealthy on a failing code", () => {
      assert.equal(verdictOf(json(206, { status: "starting" })), "unreadable");
      assert.equal(verdictOf(json(503, { status: "starting" })), "unhealthy");
    });

    for (const status of [{ code: "UP" }, ["UP"], 1, 0]) {
      it(`calls the non-string status ${JSON.stringify(status)} unreadable, but keeps a failing code as unhealthy`, () => {
        const report = parseHealthResponse(json(200, { status, version: "1" }));
        assert.equal(report.verdict, "unreadable");
        assert.equal(report.status, undefined);
        assert.equal(report.problem, "status is not a string");
        assert.equal(report.summary, "HTTP 200, status is not a string, version 1");
        assert.equal(verdictOf(json(206, { status })), "unreadable");
        assert.equal(verdictOf(json(503, { status })), "unhealthy");
      });
    }

    it("shortens a long status word to 80 characters", () => {
      const report = parseHealthResponse(json(200, { status: "s".repeat(300) }));
      assert.equal(report.status, `${"s".repeat(79)}…`);
      assert.equal(report.verdict, "unreadable");
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

    const healthJson = (checks: Record<string, unknown>) =>
      json(200, { status: "pass", checks }, { "content-type": "application/health+json" });

    it("takes the worst entry of each check, with that entry's own output", () => {
      const report = parseHealthResponse(
        healthJson({
          "db:responseTime": [
            { componentId: "primary", status: "pass", output: "3 ms" },
            { componentId: "replica-1", status: "fail", output: "timeout after 5000 ms" },
            { componentId: "replica-2", status: "warn", output: "lagging" },
          ],
          "cache:hitRatio": [
            { componentId: "a", status: "pass" },
            { componentId: "b", status: "warn", output: "hit ratio 0.2" },
          ],
          "cpu:utilization": [
            { componentId: "0", status: "warn", output: "85%" },
            { componentId: "1", status: "fail", output: "99%" },
          ],
          "queue:depth": [{ status: "pass", output: "0" }],
        }),
      );
      assert.deepEqual(report.checks, [
        { name: "db:responseTime", status: "fail", detail: "timeout after 5000 ms" },
        { name: "cache:hitRatio", status: "warn", detail: "hit ratio 0.2" },
        { name: "cpu:utilization", status: "fail", detail: "99%" },
        { name: "queue:depth", status: "pass", detail: "0" },
      ]);
      assert.equal(report.verdict, "degraded");
      assert.equal(
        verdictOf(json(200, { checks: { db: [{ status: "pass" }, { status: "fail" }] } })),
        "unhealthy",
      );
    });

    it("skips entries that are not objects, and cannot read a check with no entries", () => {
      assert.deepEqual(
        namesAndStatuses(
          healthJson({
            before: ["pass", { status: "pass" }],
            nulls: [null, { status: "warn" }],
            numbers: [3, { status: "fail" }],
            empty: [],
            junk: [null, 5, "fail"],
          }),
        ),
        [
          ["before", "pass"],
          ["nulls", "warn"],
          ["numbers", "fail"],
          ["empty", "unknown"],
          ["junk", "unknown"],
        ],
      );
    });

    it("reads status warn as degraded even on 200", () => {
      assert.equal(
        verdictOf(json(200, { ...body, status: "warn" }, { "content-type": "application/health+json" })),
        "degraded",
      );
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

    it("counts positions over every entry, the skipped ones included", () => {
      const checks = [null, "db", 7, { status: "fail" }];
      assert.deepEqual(namesAndStatuses(json(200, { checks })), [["check 4", "fail"]]);
    });

    it("names a check by name, componentName, componentId or id, preferring name", () => {
      const report = parseHealthResponse(
        json(200, {
          checks: [
            { name: "db", id: "x", status: "pass" },
            { componentName: "cache", status: "pass" },
            { componentId: "6fd416e0", status: "pass" },
            { id: 7, status: "pass" },
            { name: null, id: "queue", status: "pass" },
            { name: "", status: "pass" },
          ],
        }),
      );
      assert.deepEqual(
        report.checks.map((c) => c.name),
        ["db", "cache", "6fd416e0", "7", "queue", "check 6"],
      );
    });

    it("reads a check's status from status, state, healthy or ok, in words or booleans", () => {
      const checks = [
        { name: "a", status: "UP" },
        { name: "b", state: "down" },
        { name: "c", healthy: false },
        { name: "d", ok: true },
        { name: "e", status: true },
        { name: "f", status: null, state: "warning" },
        { name: "g", status: "Out Of Service" },
      ];
      assert.deepEqual(namesAndStatuses(json(200, { checks })), [
        ["a", "pass"],
        ["b", "fail"],
        ["c", "fail"],
        ["d", "pass"],
        ["e", "pass"],
        ["f", "warn"],
        ["g", "fail"],
      ]);
    });

    it("neither passes nor fails a check whose status is missing, a number or an object", () => {
      const report = parseHealthResponse(
        json(200, {
          checks: [
            { name: "a" },
            { name: "b", status: 1 },
            { name: "c", status: 0 },
            { name: "d", status: { code: "DOWN" } },
          ],
        }),
      );
      assert.deepEqual(
        report.checks.map((c) => c.status),
        ["unknown", "unknown", "unknown", "unknown"],
      );
      assert.deepEqual(report.failedChecks, []);
      assert.equal(report.summary, "HTTP 200");
    });

    it("reads a map of name to object, and cannot read null or numbers", () => {
      assert.deepEqual(
        namesAndStatuses(
          json(200, {
            checks: { db: { status: "DOWN" }, cache: { state: "ok" }, empty: null, count: 3, list: [] },
          }),
        ),
        [
          ["db", "fail"],
          ["cache", "pass"],
          ["empty", "unknown"],
          ["count", "unknown"],
          ["list", "unknown"],
        ],
      );
    });

    it("falls back to Spring's `components` when `checks` is null, and reads neither when both are", () => {
      const report = parseHealthResponse(json(200, { checks: null, components: { db: { status: "DOWN" } } }));
      assert.deepEqual(report.failedChecks, ["db"]);
      assert.equal(report.verdict, "unhealthy");
      assert.deepEqual(parseHealthResponse(json(200, { checks: null, components: null })).checks, []);
      assert.deepEqual(parseHealthResponse(json(200, { checks: "all good" })).checks, []);
    });

    it("keeps a check's explanation from detail, output, message or error, on one line", () => {
      const report = parseHealthResponse(
        json(503, {
          status: "unhealthy",
          checks: [
            { name: "a", status: "fail", detail: "first", message: "second" },
            { name: "b", status: "fail", output: "timeout" },
            { name: "c", status: "fail", message: "refused" },
            { name: "d", status: "fail", error: "Error: connect ECONNREFUSED\n    at TCPConnectWrap" },
            { name: "e", status: "fail", detail: "   " },
            { name: "f", status: "fail", detail: { code: 1 } },
            { name: "g", status: "fail", detail: null, error: "late" },
          ],
        }),
      );
      assert.deepEqual(report.checks, [
        { name: "a", status: "fail", detail: "first" },
        { name: "b", status: "fail", detail: "timeout" },
        { name: "c", status: "fail", detail: "refused" },
        { name: "d", status: "fail", detail: "Error: connect ECONNREFUSED at TCPConnectWrap" },
        { name: "e", status: "fail" },
        { name: "f", status: "fail" },
        { name: "g", status: "fail", detail: "late" },
      ]);
      assert.equal(
        report.summary,
        "HTTP 503, status unhealthy, failed checks: a (first), b (timeout), c (refused), " +
          "d (Error: connect ECONNREFUSED at TCPConnectWrap), e, f, g (late)",
      );
    });

    it("lists warning and failing checks in the body's order, and only those", () => {
      const report = parseHealthResponse(
        json(200, {
          status: "degraded",
          checks: [
            { name: "z", status: "warn" },
            { name: "a", status: "pass" },
            { name: "m", status: "fail" },
            { name: "q", status: "maybe" },
          ],
        }),
      );
      assert.deepEqual(report.failedChecks, ["z", "m"]);
      assert.equal(report.summary, "HTTP 200, status degraded, failed checks: z, m");
    });

    it("keeps the body's own unhealthy status even when every check passes", () => {
      const body = { status: "unhealthy", checks: [{ name: "db", status: "pass" }] };
      assert.equal(verdictOf(json(200, body)), "unhealthy");
    });
  });

  describe("database and migrations fields", () => {
    it("counts a disconnected database as a failed check when no check names it", () => {
      const report = parseHealthResponse(json(200, { version: "1", database: "disconnected" }));
      assert.equal(report.verdict, "unhealthy");
      assert.deepEqual(report.failedChecks, ["database"]);
      assert.match(report.summary, /failed checks: database \(disconnected\)/);
    });

    const verdictOfCheck: Record<CheckStatus, HealthVerdict> = {
      pass: "healthy",
      warn: "degraded",
      fail: "unhealthy",
      unknown: "healthy",
    };
    const fieldCases: ["database" | "migrations", CheckStatus, unknown[]][] = [
      [
        "database",
        "pass",
        ["connected", "up", "ok", "healthy", "pass", "available", "reachable", "Connected", " UP ", true],
      ],
      [
        "database",
        "fail",
        [
          "disconnected",
          "down",
          "unreachable",
          "error",
          "fail",
          "failed",
          "unavailable",
          "unhealthy",
          "Disconnected",
          " DOWN\n",
          false,
        ],
      ],
      [
        "migrations",
        "pass",
        ["up-to-date", "up_to_date", "uptodate", "current", "applied", "ok", "complete", "Up-To-Date", true],
      ],
      ["migrations", "warn", ["pending", "behind", "outdated", " Pending "]],
      ["migrations", "fail", ["failed", "error", "dirty", "DIRTY", false]],
      // Words that say nothing about health are shown but neither pass nor fail.
      ["database", "unknown", ["not-configured", "postgres", ""]],
      ["migrations", "unknown", ["unknown", "pending-review", 42]],
    ];
    for (const [field, status, values] of fieldCases) {
      for (const value of values) {
        it(`reads ${field} ${JSON.stringify(value)} as ${status === "unknown" ? "no check" : `a ${status}ing check`}`, () => {
          const report = parseHealthResponse(json(200, { version: "1", [field]: value }));
          const expected = value === "" ? undefined : String(value);
          assert.equal(report[field], expected);
          assert.deepEqual(
            report.checks,
            status === "unknown" ? [] : [{ name: field, status, detail: String(value).trim() }],
          );
          assert.equal(report.verdict, verdictOfCheck[status]);
        });
      }
    }

    it("reads the fields from objects with a status or state, and from `db`", () => {
      const report = parseHealthResponse(
        json(200, {
          status: "healthy",
          version: "1",
          database: { status: "up", latencyMs: 3 },
          migrations: { status: null, state: "pending" },
        }),
      );
      assert.equal(report.database, "up");
      assert.equal(report.migrations, "pending");
      assert.equal(report.verdict, "degraded");
      const db = parseHealthResponse(json(200, { database: null, db: "down" }));
      assert.equal(db.database, "down");
      assert.equal(db.verdict, "unhealthy");
      assert.equal(parseHealthResponse(json(200, { database: "up", db: "down" })).verdict, "healthy");
    });

    it("has no field for null, arrays, or objects without a status", () => {
      const report = parseHealthResponse(
        json(200, { status: "ok", database: { name: "pg" }, migrations: null }),
      );
      assert.equal(report.database, undefined);
      assert.equal(report.migrations, undefined);
      assert.deepEqual(report.checks, []);
      const lists = parseHealthResponse(json(200, { db: ["down"], migrations: ["dirty"] }));
      assert.equal(lists.database, undefined);
      assert.equal(lists.migrations, undefined);
      assert.equal(parseHealthResponse(json(200, { database: null, db: null })).database, undefined);
    });

    it("adds the fields to the body's checks, unless a check already has their name", () => {
      const added = json(200, { checks: [{ name: "cache", status: "pass" }], database: "disconnected" });
      assert.deepEqual(namesAndStatuses(added), [
        ["cache", "pass"],
        ["database", "fail"],
      ]);
      assert.equal(verdictOf(added), "unhealthy");
      // The body's own check is the more detailed account of the same thing.
      const named = json(200, {
        checks: [
          { name: "Database", status: "pass" },
          { name: "MIGRATIONS", status: "pass" },
        ],
        database: "disconnected",
        migrations: "dirty",
      });
      assert.deepEqual(namesAndStatuses(named), [
        ["Database", "pass"],
        ["MIGRATIONS", "pass"],
      ]);
    });

    it("shows a failing field's value, trimmed, in the summary", () => {
      const report = parseHealthResponse(
        json(200, { database: "  error  ", migrations: { state: "failed" } }),
      );
      assert.equal(report.summary, "HTTP 200, failed checks: database (error), migrations (failed)");
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

    const versionCases: [string, Record<string, unknown>, HealthResponse["headers"], string | undefined][] = [
      ["build.version before app.version", { build: { version: "1" }, app: { version: "2" } }, {}, "1"],
      ["app.version before info.version", { app: { version: "2" }, info: { version: "3" } }, {}, "2"],
      ["Spring's info.version", { info: { version: "3.2.1", name: "api" } }, {}, "3.2.1"],
      ["past a build without a version", { build: { time: "2024-05-01" }, app: { version: "2" } }, {}, "2"],
      ["past a null build and an app list", { build: null, app: ["9"], info: { version: 4 } }, {}, "4"],
      ["past an empty version", { version: "", build: { version: "" } }, { "x-app-version": "6.1" }, "6.1"],
      ["past a version object", { version: { major: 1 } }, {}, undefined],
      ["from X-Version", {}, { "X-Version": "8.0" }, "8.0"],
      ["X-App-Version before X-Version", {}, { "x-version": "8.0", "x-app-version": "6.1" }, "6.1"],
      ["past an empty X-App-Version", {}, { "x-app-version": "", "x-version": "8.0" }, "8.0"],
      ["the first of repeated headers", {}, { "x-app-version": ["6.1", "6.2"] }, "6.1"],
    ];
    for (const [name, body, headers, version] of versionCases) {
      it(`reads the version ${name}`, () => {
        assert.equal(parseHealthResponse(json(200, { status: "ok", ...body }, headers)).version, version);
      });
    }

    it("reads the version header for text and unreadable bodies too", () => {
      const headers = { "x-app-version": "6.1" };
      assert.equal(parseHealthResponse(raw(200, "OK", headers)).version, "6.1");
      assert.equal(parseHealthResponse(json(200, "{oops", headers)).version, "6.1");
      assert.equal(parseHealthResponse(text(200, "<html></html>", "text/html")).version, undefined);
    });

    it("reads health+json's releaseId beside the version, as text", () => {
      const report = parseHealthResponse(json(200, { status: "pass", version: "1", releaseId: 1022 }));
      assert.equal(report.version, "1");
      assert.equal(report.releaseId, "1022");
      assert.equal(parseHealthResponse(json(200, { status: "pass", releaseId: "" })).releaseId, undefined);
    });

    it("keeps a long version whole but shortens it to 80 characters in the summary", () => {
      const version = `1.0.0+${"b".repeat(200)}`;
      const report = parseHealthResponse(json(200, { status: "ok", version }));
      assert.equal(report.version, version);
      assert.equal(report.summary, `HTTP 200, status ok, version ${version.slice(0, 79)}…`);
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

    for (const body of ["[1,2]", "null", "42", '"healthy"', "true"]) {
      it(`calls the JSON body ${body} unreadable: not an object`, () => {
        const report = parseHealthResponse(json(200, body));
        assert.equal(report.verdict, "unreadable");
        assert.equal(report.problem, "JSON body is not an object");
        assert.deepEqual(report.checks, []);
      });
    }

    it("calls a body declared as JSON that is not JSON unreadable, even a healthy word", () => {
      for (const contentType of [
        "application/json",
        "application/health+json",
        "Application/JSON; charset=utf-8",
      ]) {
        const report = parseHealthResponse(raw(200, "OK", { "Content-Type": contentType }));
        assert.equal(report.verdict, "unreadable", contentType);
        assert.equal(report.problem, "body is not valid JSON", contentType);
      }
    });

    it("calls unreadable JSON unhealthy on a failing code and unreadable on 206", () => {
      assert.equal(verdictOf(json(503, "{oops")), "unhealthy");
      assert.equal(verdictOf(json(206, "{oops")), "unreadable");
      assert.equal(verdictOf(json(404, "[]")), "unhealthy");
    });

    it("calls an HTML page unreadable even with 200 (a catch-all route is not a health endpoint)", () => {
      const report = parseHealthResponse(
        text(200, "<!doctype html><html><body>app</body></html>", "text/html"),
      );
      assert.equal(report.verdict, "unreadable");
      assert.equal(report.problem, "an HTML page, not a health response");
      assert.deepEqual(report.checks, []);
      assert.match(report.summary, /an HTML page/);
    });

    it("calls an HTML page unreadable whatever it says, in any spelling of the content type", () => {
      for (const [code, contentType, body] of [
        [200, "text/html; charset=utf-8", '{"status":"ok"}'],
        [200, "Text/HTML", "OK"],
        [206, "text/html", "<p>degraded</p>"],
      ] as const) {
        assert.equal(verdictOf(raw(code, body, { "Content-Type": contentType })), "unreadable", contentType);
      }
    });

    it("keeps an HTML error page from a failing code as unhealthy, showing the page on one line", () => {
      const page = "<html>\n  <head><title>502 Bad Gateway</title></head>\n\n  <body>nginx</body>\n</html>\n";
      const report = parseHealthResponse(text(502, page, "text/html"));
      assert.equal(report.verdict, "unhealthy");
      assert.equal(
        report.summary,
        "HTTP 502, an HTML page, not a health response, " +
          "body: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>",
      );
    });

    it("reads status words in plain text, and never lets one rescue a failing code", () => {
      for (const [body, verdict] of [
        ["DOWN", "unhealthy"],
        ["unhealthy\n", "unhealthy"],
        ["Degraded", "degraded"],
        ["fail", "unhealthy"],
        ["  healthy  ", "healthy"],
      ] as const) {
        const report = parseHealthResponse(text(200, body));
        assert.equal(report.verdict, verdict, body);
        assert.equal(report.status, body.trim(), body);
        assert.deepEqual(report.checks, []);
        assert.equal(verdictOf(text(503, body)), "unhealthy", body);
      }
      assert.equal(parseHealthResponse(text(200, "  OK  ")).summary, "HTTP 200, status OK");
    });

    it("takes other plain text on a 2xx by its code, showing it", () => {
      const report = parseHealthResponse(text(200, "pong"));
      assert.equal(report.verdict, "healthy");
      assert.equal(report.status, undefined);
      assert.equal(report.summary, "HTTP 200, body: pong");
      assert.equal(parseHealthResponse(text(200, " \n ")).summary, "HTTP 200");
      assert.equal(parseHealthResponse(text(503, "")).summary, "HTTP 503");
    });

    it("reads JSON after leading blank lines, and JSON with no content type at all", () => {
      assert.equal(verdictOf(text(200, '\n  {"status":"down"}\n')), "unhealthy");
      assert.equal(verdictOf(raw(200, '{"status":"down"}')), "unhealthy");
      assert.equal(verdictOf(raw(200, "OK")), "healthy");
      assert.equal(verdictOf(raw(200, "DOWN")), "unhealthy");
    });

    it("shows at most 120 characters of a long body, on one line", () => {
      const report = parseHealthResponse(text(503, `${"x".repeat(5000)}\n${"y".repeat(5000)}`));
      assert.equal(report.verdict, "unhealthy");
      const excerpt = report.summary.replace(/^HTTP 503, body: /, "");
      assert.equal(excerpt.length, 120);
      assert.ok(!report.summary.includes("\n"));
      assert.ok(report.summary.length < 160, report.summary);
    });

    /** A healthy JSON body of exactly this many bytes, padded with `pad`. */
    const sizedBody = (bytes: number, pad = "p") => {
      const frame = JSON.stringify({ status: "ok", padding: "" });
      const count = (bytes - Buffer.byteLength(frame)) / Buffer.byteLength(pad);
      const body = JSON.stringify({ status: "ok", padding: pad.repeat(count) });
      assert.equal(Buffer.byteLength(body), bytes);
      return body;
    };

    it("refuses a JSON body beyond the size limit", () => {
      const report = parseHealthResponse(json(200, { status: "ok", padding: "p".repeat(70_000) }));
      assert.equal(report.verdict, "unreadable");
      assert.equal(report.problem, "body larger than 65536 bytes");
      assert.equal(maxHealthBodyBytes, 65536);
    });

    it("reads a JSON body of exactly the size limit, and refuses one byte more", () => {
      assert.equal(verdictOf(json(200, sizedBody(maxHealthBodyBytes))), "healthy");
      assert.equal(verdictOf(json(200, sizedBody(maxHealthBodyBytes + 1))), "unreadable");
      assert.equal(verdictOf(json(503, sizedBody(maxHealthBodyBytes + 1))), "unhealthy");
    });

    it("counts the size limit in bytes, not characters", () => {
      const body = sizedBody(maxHealthBodyBytes + 2, "é");
      assert.ok(body.length < maxHealthBodyBytes);
      assert.equal(parseHealthResponse(json(200, body)).problem, "body larger than 65536 bytes");
    });

    it("keeps a detail of exactly 80 characters whole", () => {
      const detail = "d".repeat(80);
      const report = parseHealthResponse(json(503, { checks: [{ name: "db", status: "fail", detail }] }));
      assert.equal(report.checks[0].detail, detail);
    });

    it("collapses runs of whitespace in an excerpt", () => {
      assert.equal(
        parseHealthResponse(text(503, "Bad   Gateway\t\t(nginx)")).summary,
        "HTTP 503, body: Bad Gateway (nginx)",
      );
    });

    it("shortens long check names to 80 characters on one line", () => {
      const report = parseHealthResponse(json(200, { checks: { [`${"n".repeat(100)}\n  x`]: "down" } }));
      assert.equal(report.checks[0].name, `${"n".repeat(79)}…`);
      assert.equal(
        parseHealthResponse(json(200, { checks: [{ name: " a\n b ", status: "down" }] })).failedChecks[0],
        "a b",
      );
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

    it("never shows credentials from a status word, a plain-text body or an unreadable JSON body", () => {
      const status = parseHealthResponse(json(200, { status: "error: password=hunter2" }));
      assert.equal(status.status, "error: password=***");
      assert.equal(
        status.summary,
        'HTTP 200, status error: password=***, unknown status "error: password=***"',
      );
      const plain = parseHealthResponse(text(503, "redis://:hunter2@cache:6379 refused"));
      assert.equal(plain.summary, "HTTP 503, body: redis://***@cache:6379 refused");
      const broken = parseHealthResponse(json(200, '{"status":"ok","dsn":"postgres://u:hunter2@db/app",'));
      assert.equal(
        broken.summary,
        'HTTP 200, body is not valid JSON, body: {"status":"ok","dsn":"postgres://***@db/app",',
      );
      const names = parseHealthResponse(json(200, { checks: { "mysql://root:hunter2@db": "down" } }));
      assert.deepEqual(names.failedChecks, ["mysql://***@db"]);
    });
  });
});

describe("redact", () => {
  const cases: [string, string][] = [
    // Every secret-looking key, in the spellings apps log them.
    ["password=hunter2", "password=***"],
    ["PASSWORD=hunter2", "PASSWORD=***"],
    ["DB_PASSWORD=hunter2", "DB_PASSWORD=***"],
    ["passwd: hunter2", "passwd: ***"],
    ["pwd=hunter2", "pwd=***"],
    ["client_secret=abc", "client_secret=***"],
    ["X-Auth-Token: abc", "X-Auth-Token: ***"],
    ["access-token = abc", "access-token = ***"],
    ["api_key=abc", "api_key=***"],
    ["api-key=abc", "api-key=***"],
    ["apikey=abc", "apikey=***"],
    ["APIKEY=abc", "APIKEY=***"],
    ["auth=abc", "auth=***"],
    ["authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", "authorization: ***"],
    ["Authorization: bearer\tabc", "Authorization: ***"],
    ["Authorization: Bearer  abc", "Authorization: ***"],
    ["proxy-authorization=Basic dXNlcjpwYXNz", "proxy-authorization=***"],
    ["credential=abc", "credential=***"],
    ["credentials: abc", "credentials: ***"],
    // Quoted values, with the key quoted or not.
    ['{"password":"p4 ss","user":"u"}', '{"password":***,"user":"u"}'],
    ["{'secret': 'p4 ss', 'user': 'u'}", "{'secret': ***, 'user': 'u'}"],
    ['token="a,b;c"', "token=***"],
    // An unquoted value ends where a query string, header list or object does.
    ["token=abc&user=me", "token=***&user=me"],
    ["token=abc;path=/", "token=***;path=/"],
    ["token=abc, user=me", "token=***, user=me"],
    ["token=abc user=me", "token=*** user=me"],
    ["token=abc\nuser=me", "token=***\nuser=me"],
    ["api_key: xyz; db_password=abc next", "api_key: ***; db_password=*** next"],
    ["{token:abc}", "{token:***}"],
    ['"token=abc"', '"token=***"'],
    ["'token=abc'", "'token=***'"],
    // URL credentials, in any scheme.
    ["postgres://app:hunter2@db:5432/app", "postgres://***@db:5432/app"],
    ["mongodb+srv://app:hunter2@cluster0.example.net", "mongodb+srv://***@cluster0.example.net"],
    ["s3://AKIAXXXX:hunter2@bucket", "s3://***@bucket"],
    ["HTTPS://User:Pw@Host/x", "HTTPS://***@Host/x"],
    ["amqp://guest@rabbit", "amqp://***@rabbit"],
    ["https://user:pw@host/x and redis://:pw@r:6379", "https://***@host/x and redis://***@r:6379"],
  ];
  for (const [input, output] of cases) {
    it(`redacts ${JSON.stringify(input)}`, () => assert.equal(redact(input), output));
  }

  it("leaves text without credentials alone", () => {
    for (const input of [
      "https://example.com/users/@me",
      "see http://example.com/docs or mail ops@example.com",
      "tokens: 12, passwordless: true, secretary=alice",
      "authentication failed for user app",
      "connection refused",
    ]) {
      assert.equal(redact(input), input);
    }
  });

  it("never leaves a secret in the output, in any of the forms it knows (property)", () => {
    // Secrets of characters no surrounding text below contains six of in a row.
    const secret = fc.stringMatching(/^[0-9!$%+~^]{6,24}$/);
    const key = fc.constantFrom(
      "password",
      "db_PASSWORD",
      "passwd",
      "pwd",
      "secret",
      "Client-Secret",
      "token",
      "X-Auth-Token",
      "api_key",
      "api-key",
      "ApiKey",
      "auth",
      "Authorization",
      "credentials",
    );
    const form = fc.constantFrom(
      (k: string, v: string) => `${k}=${v}`,
      (k: string, v: string) => `${k}: ${v}`,
      (k: string, v: string) => `"${k}": "${v} ${v}"`,
      (k: string, v: string) => `'${k}'='${v}'`,
      (k: string, v: string) => `${k}: Bearer ${v}`,
      (_k: string, v: string) => `postgres://app:${v}@db.internal/app`,
      (_k: string, v: string) => `redis://:${v}@cache`,
    );
    fc.assert(
      fc.property(key, form, secret, (k, write, v) => {
        const output = redact(`connect failed (${write(k, v)}); retrying`);
        assert.ok(!output.includes(v), output);
      }),
    );
  });
});

describe("worstVerdict", () => {
  it("ranks healthy, degraded, unhealthy, unreadable from best to worst", () => {
    assert.equal(worstVerdict(), "healthy");
    assert.equal(worstVerdict("healthy", "degraded"), "degraded");
    assert.equal(worstVerdict("unhealthy", "degraded"), "unhealthy");
    assert.equal(worstVerdict("unreadable", "unhealthy"), "unreadable");
  });

  const verdicts = fc.array(fc.constantFrom(...verdictOrder));

  it("is never better than any of its inputs, and is one of them (property)", () => {
    fc.assert(
      fc.property(verdicts, (vs) => {
        const worst = worstVerdict(...vs);
        for (const v of vs) {
          assert.ok(verdictOrder.indexOf(worst) >= verdictOrder.indexOf(v), `${worst} < ${v}`);
        }
        assert.ok(vs.length === 0 ? worst === "healthy" : vs.includes(worst));
      }),
    );
  });

  it("does not depend on the order of its inputs (property)", () => {
    fc.assert(
      fc.property(verdicts, (vs) => {
        const worst = worstVerdict(...vs);
        assert.equal(worstVerdict(...[...vs].reverse()), worst);
        assert.equal(worstVerdict(...[...vs].sort()), worst);
      }),
    );
  });
});
