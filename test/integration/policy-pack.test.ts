/**
 * The policy pack as someone gets it who has only its directory's manifest: `npm ci` in a copy
 * of policies/ (with the files it imports from the rest of the repository, and no repository
 * node_modules above it), then started the way the CLI starts it, from there. It must announce
 * the policies the in-process pack has and judge a violating production stack the same way.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { switchyardPack } from "../../policies/pack";
import { currentStackFacts } from "../../policies/stack";
import { checkPolicies, packSources, startPolicyPack } from "../support/policy";
import { run } from "../support/process";
import { repoRoot, runProgram } from "../support/program";

describe("policy pack: installed on its own", function () {
  this.timeout(300_000);
  let copy: string;

  before(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-pack-"));
  });

  after(() => {
    fs.rmSync(copy, { recursive: true, force: true });
  });

  it("installs with npm ci in its own directory and runs from there, judging as the in-process pack does", async () => {
    const packDir = path.join(repoRoot, "policies");
    const manifestFiles = ["package.json", "package-lock.json", "PulumiPolicy.yaml", "tsconfig.json"];
    for (const file of [
      ...packSources(packDir).files,
      ...manifestFiles.map((name) => path.join(packDir, name)),
    ]) {
      const target = path.join(copy, path.relative(repoRoot, file));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(file, target);
    }
    const installed = await run("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], {
      cwd: path.join(copy, "policies"),
      timeoutMs: 240_000,
    });
    assert.equal(installed.code, 0, installed.output);

    // Retention 3 passes the config but not the pack: the comparison has a violation to agree on.
    const program = await runProgram("production", {
      mutate: (values) => void ((values.snapshots as { retention: number }).retention = 3),
    });
    assert.equal(program.error, undefined);
    const facts = currentStackFacts();
    const pack = await startPolicyPack(path.join(copy, "policies"), {
      name: "production",
      project: "switchyard",
      config: pulumi.runtime.allConfig(),
      programDirectory: path.join(copy, "policies"),
    });
    try {
      const inProcess = switchyardPack(facts);
      assert.deepEqual(
        (await pack.policies()).map((policy) => policy.name),
        inProcess.policies.map((policy) => policy.name),
      );
      const expected = (await checkPolicies(inProcess, program.registrations)).violations;
      assert.deepEqual(
        expected.map((v) => v.policy),
        ["snapshot-retention"],
      );
      assert.deepEqual(
        (await pack.analyze(program.registrations)).map((v) => v.policy),
        expected.map((v) => v.policy),
      );
    } finally {
      await pack.stop();
    }
  });
});
