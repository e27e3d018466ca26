import assert from "node:assert/strict";
import * as path from "node:path";
import { bundledProvider } from "../../components/providers/bundledProvider";
import { countingProvider } from "../fixtures/countingProvider";
import { repoRoot } from "../support/program";
import { callSerializedProvider } from "../support/dynamicProvider";

const fixture = path.join(repoRoot, "test/fixtures/countingProvider.ts");

describe("a bundled dynamic provider", () => {
  it("is a text the dynamic provider host loads on its own, whose handler returns the provider", async () => {
    const text = bundledProvider(fixture, { countingProvider });
    const created = (await callSerializedProvider(text, "create", { name: "a" })) as {
      id: string;
      outs: { name: string; evaluations: number };
    };
    assert.deepEqual(created, { id: "counted", outs: { name: "a", evaluations: 1 } });
  });

  it("carries its code, not a path to the module", () => {
    const text = bundledProvider(fixture, { countingProvider });
    assert.match(text, /countingProviderEvaluations/);
    assert.ok(!text.includes(repoRoot), "the text names a path on this machine");
    assert.doesNotMatch(text, /require\([^)]*countingProvider/);
  });

  it("names an export the module does not have at program time, not at the first call", () => {
    assert.throws(() => bundledProvider(fixture, { missingProvider: countingProvider }), /missingProvider/);
  });
});
