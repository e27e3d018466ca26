import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import {
  checked,
  errorMessage,
  hostReason,
  isHost,
  isKnown,
  providerError,
  redact,
  throwIfProblems,
  unknownValue,
} from "../../components/providers/inputs";

describe("provider inputs", () => {
  it("knows the engine's placeholder for a value a preview does not know yet", () => {
    assert.equal(unknownValue, pulumi.runtime.unknownValue);
    assert.equal(isKnown(unknownValue), false);
    assert.equal(isKnown(""), true);
    assert.equal(isKnown(undefined), true);
  });

  it("checks: leaves out the problems of unknown inputs, by the input a property starts with", () => {
    const news = { port: unknownValue, smokeChecks: unknownValue, files: { "a.conf": 1 }, path: "x" };
    const problems = [
      { property: "port", reason: "expected a port" },
      { property: "smokeChecks[0].path", reason: "must be a path" },
      { property: "files.a.conf", reason: "expected text" },
      { property: "path", reason: "expected a path starting with /" },
    ];
    assert.deepEqual(checked(news, problems), {
      inputs: news,
      failures: [problems[2], problems[3]],
    });
  });

  it("throws the first problem as property: reason, or all of them after a lead", () => {
    assert.doesNotThrow(() => throwIfProblems([]));
    assert.doesNotThrow(() => throwIfProblems([], "invalid thing"));
    const problems = [
      { property: "directory", reason: "expected an absolute path" },
      { property: "url", reason: "must be an http:// URL" },
    ];
    assert.throws(() => throwIfProblems(problems), { message: "directory: expected an absolute path" });
    assert.throws(() => throwIfProblems(problems, "invalid thing"), {
      message: "invalid thing: directory expected an absolute path; url must be an http:// URL",
    });
  });

  it("builds a plain Error told apart by its name, with its fields", () => {
    const error = providerError("CommandFailed", "nginx exited with 1", { argv: ["nginx"] });
    assert.equal(Object.getPrototypeOf(error), Error.prototype);
    assert.equal(error.name, "CommandFailed");
    assert.equal(error.message, "nginx exited with 1");
    assert.deepEqual(error.argv, ["nginx"]);
    // A field cannot rename it.
    assert.equal(providerError("A", "m", { name: "B" }).name, "A");
  });

  it("masks every occurrence of a secret, and nothing when there is none", () => {
    assert.equal(redact("token abc in abc", "abc", "[token]"), "token [token] in [token]");
    assert.equal(redact("no secret", "", "[redacted]"), "no secret");
  });

  it("takes host names and IP addresses, and nothing a URL or a shell would read more into", () => {
    for (const host of ["127.0.0.1", "::1", "app-green.internal", "fe80::1"]) assert.ok(isHost(host), host);
    for (const host of ["", "a b", "host/path", "user@host", "[::1]", 7, undefined]) {
      assert.ok(!isHost(host), String(host));
    }
    assert.equal(hostReason("a b"), 'expected a host name or IP address, got "a b"');
  });

  it("says an error's message, or the value thrown", () => {
    assert.equal(errorMessage(new Error("boom")), "boom");
    assert.equal(errorMessage("plain"), "plain");
  });
});
