/**
 * The Docker and Random plugins built here stand in for the official ones: registered at the
 * versions the npm packages ask for, and — property by property — offering everything
 * @pulumi/docker and @pulumi/random declare (engine/conformance.ts), but for the differences
 * listed with their reasons in engine/plugin-differences.yaml.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { conformance, type PulumiSchema, schemaPackage, sdkPackage } from "../../engine/conformance";
import { lockedVersion } from "../../engine/go";
import { repoRoot } from "../../engine/layout";
import { providerPlugins } from "../../engine/plugins";
import { installedPluginPath } from "../../engine/pulumi";
import { run } from "../support/process";
import { engineEnv, layout } from "./support/engine";

const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as unknown;
const accepted = parseYaml(
  fs.readFileSync(path.join(repoRoot, "engine/plugin-differences.yaml"), "utf8"),
) as Record<string, { difference: string; reason: string }[]>;

async function pluginSchema(name: string, npm: string): Promise<PulumiSchema> {
  const binary = installedPluginPath(layout.pulumiHome, name, lockedVersion(lock, npm) ?? "");
  const result = await run("pulumi", ["package", "get-schema", binary], {
    env: engineEnv(),
    timeoutMs: 120_000,
  });
  assert.equal(result.code, 0, result.output);
  return JSON.parse(result.stdout) as PulumiSchema;
}

describe("the provider plugins built here", function () {
  this.timeout(300_000);

  it("are registered in the project's PULUMI_HOME at the versions the npm packages ask for", async () => {
    const result = await run("pulumi", ["plugin", "ls", "--json"], { env: engineEnv() });
    assert.equal(result.code, 0, result.output);
    const registered = (JSON.parse(result.stdout) as { name: string; kind: string; version: string }[])
      .filter((plugin) => plugin.kind === "resource")
      .map((plugin) => `${plugin.name} ${plugin.version}`)
      .sort();
    assert.deepEqual(
      registered,
      providerPlugins.map((plugin) => `${plugin.name} ${lockedVersion(lock, plugin.npm)}`).sort(),
    );
    assert.deepEqual(registered, ["command 0.9.2", "docker 5.2.0", "random 4.21.2"]);
  });

  for (const plugin of providerPlugins.filter((each) => each.source.kind === "bridged")) {
    it(`${plugin.name}: has everything ${plugin.npm} declares, but for the accepted differences`, async () => {
      const sdk = sdkPackage(path.join(repoRoot, "node_modules", plugin.npm));
      const differences = conformance(sdk, schemaPackage(await pluginSchema(plugin.name, plugin.npm)));
      const listed = (accepted[plugin.name] ?? []).map((entry) => entry.difference);
      assert.deepEqual(
        {
          unaccepted: differences.filter((line) => !listed.includes(line)),
          stale: listed.filter((line) => !differences.includes(line)),
        },
        { unaccepted: [], stale: [] },
      );
      for (const entry of accepted[plugin.name] ?? [])
        assert.ok(entry.reason.trim(), `no reason for ${entry.difference}`);
    });
  }

  it("docker: a dropped mapping override would be caught (networksAdvanced renamed by the bridge's rules)", async () => {
    const schema = await pluginSchema("docker", "@pulumi/docker");
    const container = schema.resources?.["docker:index/container:Container"];
    assert.ok(container?.inputProperties?.networksAdvanced && container.properties?.networksAdvanced);
    container.inputProperties.networksAdvanceds = container.inputProperties.networksAdvanced;
    delete container.inputProperties.networksAdvanced;
    const differences = conformance(
      sdkPackage(path.join(repoRoot, "node_modules/@pulumi/docker")),
      schemaPackage(schema),
    );
    assert.ok(
      differences.includes(
        "docker:index/container:Container input.networksAdvanced: missing from the plugin",
      ),
      differences.join("\n"),
    );
  });
});
