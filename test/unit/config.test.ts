import { strict as assert } from "node:assert";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, parseStackConfig, type RawStackConfig } from "../../infra/config";
import { configReference, replaceConfigReference } from "../../infra/configReference";

const repoRoot = path.resolve(__dirname, "../..");

const minimal = (values: Record<string, unknown> = {}): RawStackConfig => ({
  values: {
    slots: {
      blue: { build: "examples/demo-app", version: "1.0.0" },
      green: { build: "examples/demo-app", version: "1.0.0" },
    },
    ...values,
  },
  secret: new Set(),
});

function problemsOf(raw: RawStackConfig): string[] {
  try {
    parseStackConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${error}`);
    return error.problems;
  }
  assert.fail("the config was accepted");
}

describe("config schema", () => {
  it("documents every key", () => {
    const undocumented = configReference()
      .filter((row) => !row.description)
      .map((row) => row.key);
    assert.deepEqual(undocumented, []);
  });

  it("the README's config reference is the one the schema renders", () => {
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
    assert.equal(readme, replaceConfigReference(readme), "run `npm run docs:config` and commit README.md");
  });

  it("fills safe defaults so a dev stack needs only its slots", () => {
    const config = parseStackConfig(minimal());
    assert.equal(config.environment, "development");
    assert.equal(config.activeSlot, "blue");
    assert.equal(config.target.host, "unix:///var/run/docker.sock");
    assert.equal(config.router.canaryWeight, 0);
    assert.equal(config.snapshots.retention, 7);
    assert.equal(config.health.path, "/health");
    assert.deepEqual(config.app.loopbackPorts, { blue: 18081, green: 18082 });
  });

  it("names the key path and the expectation, never the value", () => {
    const problems = problemsOf(
      minimal({ router: { canaryWeight: 140 }, appSecrets: { JWT_SECRET: "hunter2-very-secret" } }),
    );
    assert.ok(
      problems.some((p) => /^switchyard:router\.canaryWeight: .*100/.test(p)),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => /^switchyard:appSecrets: .*plain text/.test(p)),
      problems.join("\n"),
    );
    assert.ok(!problems.join("\n").includes("hunter2"), "the secret value is not echoed");
  });

  it("refuses an ssh key the SSH client cannot read, without quoting it", () => {
    const pkcs8 = generateKeyPairSync("ed25519")
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const raw = minimal({
      target: { host: "ssh://deploy@203.0.113.10", hostKey: `ssh-ed25519 ${"A".repeat(68)}` },
      sshPrivateKey: pkcs8,
    });
    const problems = problemsOf({ ...raw, secret: new Set(["sshPrivateKey"]) });
    assert.match(problems.join("\n"), /^switchyard:sshPrivateKey: a private key the SSH client can read/m);
    assert.ok(!problems.join("\n").includes(pkcs8.split("\n")[1]), "the key is not echoed");
  });

  it("refuses a non-secret key marked secret, so a secret is not parked where it is shown", () => {
    const raw = minimal({ activeSlot: "green" });
    const problems = problemsOf({ ...raw, secret: new Set(["activeSlot"]) });
    assert.match(problems.join("\n"), /switchyard:activeSlot: is marked secret/);
  });
});

