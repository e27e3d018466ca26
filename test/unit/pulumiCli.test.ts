import assert from "node:assert/strict";
import fc from "fast-check";
import { isStackName } from "../../bin/pulumiCli";

describe("stack names the commands take", () => {
  it("takes a plain name everywhere, and org/project/name only where qualified names are", () => {
    for (const name of ["production", "dev", "eu_prod", "stage.1"]) {
      assert.ok(isStackName(name, { qualified: false }), name);
      assert.ok(isStackName(name, { qualified: true }), name);
    }
    for (const name of ["acme/shop/production", "shop/production"]) {
      assert.ok(isStackName(name, { qualified: true }), name);
      assert.ok(!isStackName(name, { qualified: false }), name);
    }
  });

  it("refuses an empty part, a part of dots, a fourth part and anything a shell or path would read", () => {
    for (const name of ["", "..", "a/../b", "a//b", "a/b/c/d", "prod;rm", "prod name", "$(id)", "../x"]) {
      assert.ok(!isStackName(name, { qualified: true }), name);
      assert.ok(!isStackName(name, { qualified: false }), name);
    }
  });

  it("takes every name a plain check takes where qualified names are taken too", () => {
    fc.assert(
      fc.property(fc.string(), (name) => {
        if (isStackName(name, { qualified: false })) assert.ok(isStackName(name, { qualified: true }));
      }),
    );
  });
});
