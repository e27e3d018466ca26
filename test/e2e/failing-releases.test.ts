/**
 * Releases that must not go out, for real: a green slot that reports the wrong version, answers
 * 503, crashes at start, or turns healthy and then flaps. Each time `pulumi up` fails with the
 * gate's own account of what it saw, every request meanwhile is blue's, and the corrected release
 * converges on the next `pulumi up`.
 */
import assert from "node:assert/strict";
import { httpGet } from "../support/process";
import { newDevStack, type TestStack } from "./support/engine";
import { answersOnNewConnections, Probe, whileProbing } from "./support/traffic";

/** Green's loopback port (app.loopbackPorts.green), where its gate checks it. */
const greenHealth = "http://127.0.0.1:18082/health";

/** Each fault is the demo app itself, started wrong by `app.command`: what a broken release does. */
const faults = [
  {
    fault: "reports another version than the one released",
    command: ["sh", "-c", "APP_VERSION=0.9.0 exec node server.js"],
    gateSays: /version 0\.9\.0/,
  },
  {
    fault: "answers 503 (its database is unreachable)",
    command: ["sh", "-c", "DATABASE_URL= exec node server.js"],
    gateSays: /503/,
  },
  {
    fault: "crashes at start",
    command: ["sh", "-c", "SLOT=purple exec node server.js"],
    gateSays: /connection refused|request failed/,
  },
  {
    fault: "turns healthy, then goes down every few seconds",
    // Down 2 s after it first answers, however long it took to start (a fixed lifetime fails
    // before any check passes on a slow machine): the gate's window starts, then breaks.
    command: [
      "sh",
      "-c",
      'node server.js & until curl -fso /dev/null "http://127.0.0.1:$PORT/health"; do sleep 0.2; done; sleep 2; kill $!',
    ],
    gateSays: /stable window/,
  },
];

describe("failing releases through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  before(async () => {
    stack = await newDevStack();
    // Each fault holds the gate to its deadline: 20 s, not the default 60, keeps the tier short.
    await stack.pulumiChecked(["config", "set", "--path", "health.deadlineSeconds", "20"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);
  });

  after(() => stack?.teardown());

  faults.forEach(({ fault, command, gateSays }, index) => {
    const version = `1.1.${index + 1}`;
    it(`refuses a green release that ${fault}; blue serves throughout, and the fix converges`, async () => {
      await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", version]);
      await stack.setList("app.command", command);
      const seen = await whileProbing(new Probe(), async () => {
        const failed = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
        assert.notEqual(failed.code, 0, failed.output);
        assert.match(
          failed.output,
          new RegExp(`health gate for .*\\(version ${version.replace(/\./g, "\\.")}\\) failed`),
        );
        assert.match(failed.output, gateSays);
      });
      assert.deepEqual(Object.keys(seen), ["blue 1.0.0"], JSON.stringify(seen));

      // The failed release stays pinned to green until green is released again.
      await stack.pulumiChecked(["config", "rm", "--path", "app.command"]);
      await stack.pulumiChecked(["config", "set", "--path", "slots.green.rollout", String(index + 1)]);
      await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      const green = await httpGet(greenHealth);
      assert.equal(green.status, 200, green.body);
      assert.equal((JSON.parse(green.body) as { version: string }).version, version);
      assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);
    });
  });
});
