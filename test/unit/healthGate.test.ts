import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { inspect } from "node:util";
import fc from "fast-check";
import {
  displayUrl,
  failureMessage,
  type GateSpec,
  gateSettings,
  gateSpecProblems,
  judgeReport,
  requestFailure,
  tryOnce,
} from "../../components/providers/healthGate";
import { parseHealthResponse } from "../../components/providers/healthStatus";
import type { InputProblem } from "../../components/providers/inputs";

const spec: GateSpec = {
  url: "http://127.0.0.1:3000/health",
  expectedVersion: "1.2.3",
  intervalMs: 2000,
  timeoutMs: 5000,
  deadlineMs: 300_000,
  successesNeeded: 3,
  stableForMs: 10_000,
  allowDegraded: false,
  smokeChecks: [],
};

const answer = (statusCode: number, body: unknown) =>
  parseHealthResponse({
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("judgeReport", () => {
  it("passes a healthy answer on the expected version", () => {
    assert.deepEqual(judgeReport(answer(200, { status: "healthy", version: "1.2.3" }), spec), {
      passed: true,
      reason: "",
    });
  });

  it("passes degraded only where allowed", () => {
    const degraded = answer(206, { status: "degraded", version: "1.2.3" });
    assert.deepEqual(judgeReport(degraded, spec), {
      passed: false,
      reason: "degraded, and degraded is not allowed",
    });
    assert.equal(judgeReport(degraded, { ...spec, allowDegraded: true }).passed, true);
  });

  it("never passes unhealthy or unreadable answers, even where degraded is allowed", () => {
    const lenient = { ...spec, allowDegraded: true };
    assert.deepEqual(judgeReport(answer(503, { status: "unhealthy", version: "1.2.3" }), lenient), {
      passed: false,
      reason: "unhealthy",
    });
    assert.deepEqual(judgeReport(answer(200, { status: "sideways", version: "1.2.3" }), lenient), {
      passed: false,
      reason: "not a readable health response",
    });
  });

  it("names the version found and the one expected", () => {
    assert.deepEqual(judgeReport(answer(200, { status: "ok", version: "1.2.4" }), spec), {
      passed: false,
      reason: "version 1.2.4 found, expected 1.2.3",
    });
    assert.deepEqual(judgeReport(answer(200, { status: "ok" }), spec), {
      passed: false,
      reason: "no version reported, expected 1.2.3",
    });
  });

  it("accepts health+json's releaseId as the version, and names both when neither matches", () => {
    assert.equal(
      judgeReport(answer(200, { status: "pass", version: "1", releaseId: "1.2.3" }), spec).passed,
      true,
    );
    assert.deepEqual(judgeReport(answer(200, { status: "pass", version: "1", releaseId: "1.2.2" }), spec), {
      passed: false,
      reason: "version 1 (release 1.2.2) found, expected 1.2.3",
    });
  });

  it("compares versions exactly", () => {
    assert.equal(judgeReport(answer(200, { status: "ok", version: "v1.2.3" }), spec).passed, false);
    assert.equal(judgeReport(answer(200, { status: "ok", version: "1.2.3 " }), spec).passed, false);
  });

  it("takes a releaseId alone as the version, and names it alone when it does not match", () => {
    assert.equal(judgeReport(answer(200, { status: "pass", releaseId: "1.2.3" }), spec).passed, true);
    assert.deepEqual(judgeReport(answer(200, { status: "pass", releaseId: "1.2.2" }), spec), {
      passed: false,
      reason: "release 1.2.2 found, expected 1.2.3",
    });
  });

  it("still requires the expected version where degraded is allowed", () => {
    const lenient = { ...spec, allowDegraded: true };
    assert.deepEqual(judgeReport(answer(206, { status: "degraded", version: "1.2.2" }), lenient), {
      passed: false,
      reason: "version 1.2.2 found, expected 1.2.3",
    });
    assert.deepEqual(judgeReport(answer(206, { status: "degraded" }), lenient), {
      passed: false,
      reason: "no version reported, expected 1.2.3",
    });
  });
});

describe("gateSpecProblems", () => {
  it("accepts the defaults a stack would use", () => {
    assert.deepEqual(gateSpecProblems(spec), []);
    assert.deepEqual(
      gateSpecProblems({
        ...spec,
        stableForMs: 0,
        successesNeeded: 1,
        headers: { Host: "app" },
      }),
      [],
    );
  });

  it("names every bad field", () => {
    const problems = gateSpecProblems({
      ...spec,
      url: "not a url",
      expectedVersion: " ",
      timeoutMs: Number.NaN,
      deadlineMs: -1,
      stableForMs: -5,
      allowDegraded: "yes" as unknown as boolean,
      smokeChecks: [
        { path: "/ok", status: 200 },
        { path: "/a b", status: 700 },
      ],
      headers: { "Bad Header": "x", "X-Ok": "line\nbreak" },
    });
    assert.deepEqual(
      problems.map((p) => p.property),
      [
        "url",
        "expectedVersion",
        "timeoutMs",
        "deadlineMs",
        "stableForMs",
        "allowDegraded",
        "smokeChecks[1].path",
        "smokeChecks[1].status",
        "headers.Bad Header",
        "headers.X-Ok",
      ],
    );
    assert.ok(!JSON.stringify(problems).includes("line\\nbreak"), "header values are never quoted");
  });

  it("refuses non-http URLs", () => {
    assert.deepEqual(gateSpecProblems({ ...spec, url: "file:///etc/passwd" }), [
      { property: "url", reason: "must be an http:// or https:// URL" },
    ]);
  });

  it("accepts the boundaries: 1 ms, status 100 and 599, the root path, any one-line header value", () => {
    assert.deepEqual(
      gateSpecProblems({
        ...spec,
        url: "https://gate:pa55word@example.test:8443/health?key=abc",
        intervalMs: 1,
        timeoutMs: 0.5,
        deadlineMs: 1,
        smokeChecks: [
          { path: "/", status: 100 },
          { path: "/api/items?page=2", status: 599 },
        ],
        headers: {},
      }),
      [],
    );
    assert.deepEqual(gateSpecProblems({ ...spec, headers: { "X-Probe-Token": "Bearer a b=c" } }), []);
  });

  interface Rejection {
    bad: Record<string, unknown>;
    problems: InputProblem[];
  }
  const each = (key: keyof GateSpec, reason: string, values: unknown[]): Rejection[] =>
    values.map((value) => ({ bad: { [key]: value }, problems: [{ property: key, reason }] }));
  const pathReason = "must be a path starting with / and without spaces";
  const statusReason = "must be an HTTP status code (100-599)";
  const rejections: Rejection[] = [
    ...each("url", "must be an http:// or https:// URL", [
      "not a url",
      "",
      "ftp://example.test/health",
      "/health",
      3000,
      // A list whose text is a URL is still not a URL.
      ["http://127.0.0.1:3000/health"],
    ]),
    ...each("expectedVersion", "must be a non-empty string", ["", " \t", 123, undefined]),
    ...(["intervalMs", "timeoutMs", "deadlineMs"] as const).flatMap((key) =>
      each(key, "must be a number of milliseconds above 0", [0, -1, Number.NaN, Infinity, "2000"]),
    ),
    ...each("stableForMs", "must be a number of milliseconds, 0 or more", [-1, Number.NaN, Infinity, "0"]),
    ...each("successesNeeded", "must be an integer of 1 or more", [0, -1, 1.5, Infinity, "3"]),
    ...each("allowDegraded", "must be true or false", ["yes", 0, null]),
    ...each("smokeChecks", "must be a list of {path, status}", [
      undefined,
      null,
      "/",
      { path: "/", status: 200 },
    ]),
    ...each("headers", "must be a map of header name to value", [null, "Host: app", [["Host", "app"]]]),
    {
      bad: { smokeChecks: [{ path: "/", status: 200 }, null] },
      problems: [
        { property: "smokeChecks[1].path", reason: pathReason },
        { property: "smokeChecks[1].status", reason: statusReason },
      ],
    },
    ...["api/items", "", "/api items", "/api\titems", ["/api"], undefined].map((path) => ({
      bad: { smokeChecks: [{ path, status: 200 }] },
      problems: [{ property: "smokeChecks[0].path", reason: pathReason }],
    })),
    ...[99, 600, 200.5, "200", undefined].map((status) => ({
      bad: { smokeChecks: [{ path: "/", status }] },
      problems: [{ property: "smokeChecks[0].status", reason: statusReason }],
    })),
    ...["Bad Header", "", "Host:", "X-Ünicode", "X\r\nInjected"].map((name) => ({
      bad: { headers: { [name]: "s3cret" } },
      problems: [{ property: `headers.${name}`, reason: "is not a valid header name" }],
    })),
    ...["s3cret\nX-Injected: 1", "s3cret\r", 5, null].map((value) => ({
      bad: { headers: { "X-Probe-Token": value } },
      problems: [{ property: "headers.X-Probe-Token", reason: "must be a one-line string" }],
    })),
  ];

  it("rejects each bad value on its own, naming the field and what it must be", () => {
    for (const { bad, problems } of rejections) {
      assert.deepEqual(gateSpecProblems({ ...spec, ...bad } as GateSpec), problems, inspect(bad));
    }
  });

  it("never quotes a header value in a problem", () => {
    for (const { bad } of rejections.filter((rejection) => "headers" in rejection.bad)) {
      const problems = JSON.stringify(gateSpecProblems({ ...spec, ...bad } as GateSpec));
      assert.ok(!problems.includes("s3cret"), problems);
    }
  });
});

describe("gateSettings", () => {
  it("turns the stack's health seconds into the gate's milliseconds and keeps its pass rules", () => {
    const smokeChecks = [{ path: "/", status: 200 }];
    const health = {
      intervalSeconds: 2,
      timeoutSeconds: 5,
      deadlineSeconds: 300,
      successesNeeded: 3,
      stableForSeconds: 0.25,
      allowDegraded: true,
      smokeChecks,
    };
    assert.deepEqual(gateSettings(health, health.stableForSeconds), {
      intervalMs: 2000,
      timeoutMs: 5000,
      deadlineMs: 300_000,
      successesNeeded: 3,
      stableForMs: 250,
      allowDegraded: true,
      smokeChecks,
    });
    assert.equal(gateSettings({ ...health, allowDegraded: false }, 1).allowDegraded, false);
  });

  it("gives the router's post-switch watch its own window, the rest the same", () => {
    const health = { intervalSeconds: 1, timeoutSeconds: 2, deadlineSeconds: 60, successesNeeded: 3 };
    const settings = { ...health, allowDegraded: false, smokeChecks: [], postSwitchStableForSeconds: 30 };
    const watch = gateSettings(settings, settings.postSwitchStableForSeconds);
    assert.deepEqual([watch.stableForMs, watch.intervalMs, watch.timeoutMs], [30_000, 1000, 2000]);
  });
});

describe("failureMessage", () => {
  const target = "http://127.0.0.1:3000/health";
  const prefix =
    "health gate for http://127.0.0.1:3000/health (version 1.2.3) failed after 300012 ms and 57 checks (deadline 300000 ms): ";
  const tooLate = "the window could no longer end within the 300000 ms deadline";
  type Facts = Parameters<typeof failureMessage>[4];
  const never: Facts = {
    mostConsecutive: 0,
    longestHeldMs: undefined,
    restarts: 0,
    heldMs: undefined,
    lastPassed: false,
    seen: "connection refused",
  };
  const cases: [string, Partial<Facts>, string][] = [
    ["nothing ever passed", {}, "no check passed; last seen: connection refused"],
    [
      "it never passed often enough in a row",
      { mostConsecutive: 2, seen: "HTTP 503, status unhealthy; unhealthy" },
      "it never passed 3 times in a row (at most 2); last seen: HTTP 503, status unhealthy; unhealthy",
    ],
    [
      "it passes but not often enough in a row yet",
      { mostConsecutive: 1, lastPassed: true, seen: "HTTP 200" },
      "it never passed 3 times in a row (at most 1); last seen: HTTP 200",
    ],
    [
      "the first window started too late to end in time",
      { mostConsecutive: 3, heldMs: 4200.4, lastPassed: true, seen: "HTTP 200" },
      `it had held for 4200 ms of the 10000 ms stable window, but ${tooLate}; last seen: HTTP 200`,
    ],
    [
      "it failed inside the window once and is failing",
      { mostConsecutive: 5, longestHeldMs: 2500.6, restarts: 1, seen: "HTTP 503" },
      "it failed inside the 10000 ms stable window once (longest hold 2501 ms); last seen: HTTP 503",
    ],
    [
      "it failed inside the window several times and is passing again",
      { mostConsecutive: 5, longestHeldMs: 7000, restarts: 3, lastPassed: true, seen: "HTTP 200" },
      `it failed inside the 10000 ms stable window 3 times (longest hold 7000 ms); it was passing again, but ${tooLate}; last seen: HTTP 200`,
    ],
    [
      "it failed inside the window and a new window started too late",
      {
        mostConsecutive: 4,
        longestHeldMs: 9000,
        restarts: 2,
        heldMs: 1500,
        lastPassed: true,
        seen: "HTTP 200",
      },
      `it failed inside the 10000 ms stable window 2 times (longest hold 9000 ms); it had held for 1500 ms of the 10000 ms stable window, but ${tooLate}; last seen: HTTP 200`,
    ],
  ];
  for (const [situation, facts, why] of cases) {
    it(`says why when ${situation}`, () => {
      assert.equal(failureMessage(spec, target, 300_012, 57, { ...never, ...facts }), prefix + why);
    });
  }
});

describe("request failure reasons", () => {
  const failed = (
    code: string | undefined,
    message = `connect ${code} http://gate:pa55word@app.test/health`,
  ) => Object.assign(new Error(message), { code });
  const reasons: [string | undefined, string][] = [
    ["ECONNREFUSED", "connection refused"],
    ["ECONNRESET", "connection reset"],
    ["EPIPE", "connection closed while sending"],
    ["ENOTFOUND", "host not found"],
    ["EAI_AGAIN", "host name lookup failed"],
    ["EHOSTUNREACH", "host unreachable"],
    ["ENETUNREACH", "network unreachable"],
    ["ETIMEDOUT", "connect timed out"],
    ["HPE_INVALID_CONSTANT", "malformed HTTP response"],
    ["HPE_HEADER_OVERFLOW", "malformed HTTP response"],
    ...[
      "ERR_TLS_CERT_ALTNAME_INVALID",
      "CERT_HAS_EXPIRED",
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "SELF_SIGNED_CERT_IN_CHAIN",
    ].map((code): [string, string] => [code, `TLS failure (${code})`]),
    ["EPROTO", "request failed (EPROTO)"],
    ["ERR_INVALID_URL", "request failed (ERR_INVALID_URL)"],
    [undefined, "request failed"],
  ];

  it("names each failure by its code, never by a message that may quote credentials", () => {
    for (const [code, reason] of reasons) assert.equal(requestFailure(failed(code), 5000), reason, code);
  });

  it("tells a connection closed before any answer from a reset", () => {
    assert.equal(
      requestFailure(failed("ECONNRESET", "socket hang up"), 5000),
      "connection closed before a response",
    );
    assert.equal(
      requestFailure(failed(undefined, "socket hang up"), 5000),
      "connection closed before a response",
    );
  });

  describe("from one try against loopback", () => {
    let servers: net.Server[] = [];
    const sockets = new Set<net.Socket>();
    afterEach(async () => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      servers = [];
    });
    /** The port `server` listens on until the test ends. */
    const listening = async (server: net.Server) => {
      servers.push(server);
      server.on("connection", (socket) => sockets.add(socket));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return (server.address() as AddressInfo).port;
    };
    /** What a try saw, through a URL with credentials and a query that it must not show. */
    const seen = async (port: number, timeoutMs = 1000) => {
      const outcome = await tryOnce(
        { ...spec, url: `http://gate:pa55word@127.0.0.1:${port}/health?key=qu3ry` },
        timeoutMs,
      );
      assert.equal(outcome.passed, false);
      return outcome.seen;
    };

    it("no answer within the try's timeout", async () => {
      assert.equal(await seen(await listening(http.createServer()), 100), "no answer within 100 ms");
    });

    it("a connection closed before any answer", async () => {
      const port = await listening(net.createServer((socket) => socket.destroy()));
      // Closing with the request still unread sends a reset instead of a close, depending on timing.
      assert.match(await seen(port), /^connection (closed before a response|reset)$/);
    });

    it("an answer that is not HTTP", async () => {
      const port = await listening(net.createServer((socket) => socket.end("garbage\r\n\r\n")));
      assert.equal(await seen(port), "malformed HTTP response");
    });

    it("a port nothing listens on", async () => {
      const server = net.createServer();
      const port = await new Promise<number>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
      );
      await new Promise((resolve) => server.close(resolve));
      assert.equal(await seen(port), "connection refused");
    });
  });
});

describe("displayUrl", () => {
  it("drops credentials and hides the query", () => {
    const shown: [string, string][] = [
      ["https://user:pw@example.test:8443/health?token=abc", "https://example.test:8443/health?…"],
      ["http://127.0.0.1:3000/health", "http://127.0.0.1:3000/health"],
      ["http://gate:pa55word@127.0.0.1:3000/health", "http://127.0.0.1:3000/health"],
      ["http://127.0.0.1:3000/health?", "http://127.0.0.1:3000/health"],
      ["http://127.0.0.1:3000/health#t0ken", "http://127.0.0.1:3000/health"],
      ["not a url", "(invalid URL)"],
    ];
    for (const [url, display] of shown) assert.equal(displayUrl(url), display, url);
  });

  it("never shows a password or a query value, whatever they are", () => {
    const secret = fc.stringMatching(/^[A-Z0-9]{8,16}$/);
    fc.assert(
      fc.property(fc.constantFrom("http", "https"), secret, secret, (scheme, password, token) => {
        const shown = displayUrl(`${scheme}://gate:${password}@app.example.test/health?key=${token}`);
        assert.equal(shown, `${scheme}://app.example.test/health?…`);
      }),
    );
  });
});
