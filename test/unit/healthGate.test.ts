import assert from "node:assert/strict";
import {
  displayUrl,
  type GateSpec,
  gateSpecProblems,
  judgeReport,
} from "../../components/providers/healthGate";
import { parseHealthResponse } from "../../components/providers/healthStatus";

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
});

describe("displayUrl", () => {
  it("drops credentials and hides the query", () => {
    assert.equal(
      displayUrl("https://user:pw@example.test:8443/health?token=abc"),
      "https://example.test:8443/health?…",
    );
    assert.equal(displayUrl("http://127.0.0.1:3000/health"), "http://127.0.0.1:3000/health");
  });
});
