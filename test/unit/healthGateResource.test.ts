import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { HealthGate } from "../../components/providers/HealthGateResource";
import { isSecretValue, plainOccurrences } from "../support/program";

describe("HealthGate resource", () => {
  it("registers as switchyard:HealthGate with the ssh key secret and no outputs set by the program", async () => {
    const registered: { type: string; inputs: Record<string, unknown> }[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered.push({ type: args.type, inputs: args.inputs });
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "switchyard",
      "test",
      false,
    );
    const privateKey =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n";
    const gate = new HealthGate("app-green-gate", {
      // As Deployment builds it: `executorSpecFor(target, key)` inside the secret key's apply.
      executor: pulumi.secret(privateKey).apply((key) => ({
        kind: "ssh" as const,
        host: "203.0.113.10",
        port: 22,
        user: "deploy",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake",
        privateKey: key,
      })),
      host: "127.0.0.1",
      port: 8081,
      path: "/health",
      expectedVersion: "1.4.2",
      intervalMs: 2000,
      timeoutMs: 5000,
      deadlineMs: 300_000,
      successesNeeded: 3,
      stableForMs: 10_000,
      allowDegraded: false,
      smokeChecks: [],
      guards: { image: pulumi.output("sha256:1234"), container: "app-green" },
    });
    await new Promise((resolve) => gate.urn.apply(resolve));

    assert.equal(registered.length, 1);
    const [{ type, inputs }] = registered;
    assert.equal(type, "pulumi-nodejs:dynamic/switchyard:HealthGate");
    assert.ok(isSecretValue(inputs.executor), "the executor spec, key included, is secret");
    assert.deepEqual(plainOccurrences(inputs, "c2VjcmV0LWtleQ"), []);
    assert.match(
      String(inputs.__provider),
      /components\/providers\/healthGate\.ts/,
      "the provider's code is in the text",
    );
    assert.deepEqual(inputs.guards, {
      image: "sha256:1234",
      container: "app-green",
    });
    for (const output of ["passedAt", "waitedMs", "checks", "version", "status", "target"]) {
      assert.equal(inputs[output], undefined, output);
    }
  });
});
