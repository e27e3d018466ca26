import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildContextDigest, containerLimits, dockerignoreMatcher } from "../../components/containers";

describe("container images and limits", () => {
  it("matches .dockerignore patterns by segment, directories with what is under them", () => {
    const matches = (pattern: string, relative: string) => dockerignoreMatcher(pattern)(relative);
    assert.equal(matches("node_modules", "node_modules/x/index.js"), true);
    assert.equal(matches("node_modules", "lib/node_modules.js"), false);
    assert.equal(matches("npm-debug.log*", "npm-debug.log.1"), true);
    assert.equal(matches("*.md", "docs/a.md"), false);
    assert.equal(matches("docs/*.md", "docs/a.md"), true);
    assert.equal(matches("**/*.tmp", "a/b/c.tmp"), true);
    assert.equal(matches("/Dockerfile", "Dockerfile"), true);
    assert.equal(matches("a?c", "abc"), true);
    assert.equal(matches("a.c", "abc"), false);
  });

  it("digests the files a build sends: a change there changes it, an ignored file does not", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-context-"));
    fs.mkdirSync(path.join(dir, "lib"));
    fs.mkdirSync(path.join(dir, "node_modules"));
    fs.writeFileSync(path.join(dir, ".dockerignore"), "# comment\nnode_modules\n");
    fs.writeFileSync(path.join(dir, "lib", "app.js"), "one");
    const first = buildContextDigest(dir);
    assert.match(first, /^[0-9a-f]{64}$/);
    fs.writeFileSync(path.join(dir, "node_modules", "dep.js"), "ignored");
    assert.equal(buildContextDigest(dir), first);
    fs.writeFileSync(path.join(dir, "lib", "app.js"), "two");
    assert.notEqual(buildContextDigest(dir), first);
    fs.renameSync(path.join(dir, "lib", "app.js"), path.join(dir, "lib", "main.js"));
    const renamed = buildContextDigest(dir);
    fs.writeFileSync(path.join(dir, "lib", "main.js"), "two");
    assert.equal(buildContextDigest(dir), renamed);
    fs.rmSync(dir, { recursive: true });
  });

  it("limits memory without swap and spells CPUs as Docker reads them back", () => {
    assert.deepEqual(containerLimits({ memoryMb: 256, cpus: 1 }), {
      memory: 256,
      memorySwap: 256,
      cpus: "1.0",
    });
    assert.deepEqual(containerLimits({ memoryMb: 512, cpus: 0.5 }).cpus, "0.5");
  });
});
