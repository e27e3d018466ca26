import assert from "node:assert/strict";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { bundledProvider } from "../../components/providers/bundledProvider";
import { countingProvider } from "../fixtures/countingProvider";
import { repoRoot } from "../support/program";

const fixture = path.join(repoRoot, "test/fixtures/countingProvider.ts");

/** What the dynamic provider host does with the `__provider` text (see test/support/dynamicProvider.ts). */
async function hostLoad(provider: object): Promise<Record<string, (...args: unknown[]) => Promise<unknown>>> {
  const { text } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  const requireFromString = require("require-from-string") as (code: string) => { handler: () => never };
  return requireFromString(text).handler();
}

const evaluations = () =>
  (globalThis as { countingProviderEvaluations?: number }).countingProviderEvaluations ?? 0;

describe("a bundled dynamic provider", () => {
  it("has exactly the provider's methods, so the host's defaults apply where it has none", () => {
    const forwarder = bundledProvider(fixture, { countingProvider });
    assert.deepEqual(Object.keys(forwarder).sort(), ["check", "create"]);
  });

  it("evaluates its bundle once in the host, on the first call, whichever methods follow", async () => {
    const loaded = await hostLoad(bundledProvider(fixture, { countingProvider }));
    const before = evaluations();
    const checked = (await loaded.check({}, { name: "a" })) as { inputs: { evaluations: number } };
    const created = (await loaded.create({ name: "a" })) as { outs: { evaluations: number } };
    await loaded.check({}, { name: "b" });
    assert.equal(evaluations(), before + 1);
    assert.equal(checked.inputs.evaluations, before + 1);
    assert.equal(created.outs.evaluations, before + 1);
  });

  it("carries its code in the serialized text, not a path to the module", async () => {
    const forwarder = bundledProvider(fixture, { countingProvider });
    const { text } = await pulumi.runtime.serializeFunction(() => forwarder, { allowSecrets: true });
    assert.match(text, /countingProviderEvaluations/);
    assert.ok(!text.includes(repoRoot), "the text names a path on this machine");
    assert.doesNotMatch(text, /require\([^)]*countingProvider/);
  });

  it("names an export the module does not have at program time, not at the first call", () => {
    assert.throws(() => bundledProvider(fixture, { missingProvider: countingProvider }), /missingProvider/);
  });
});
