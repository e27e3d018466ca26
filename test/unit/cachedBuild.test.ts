import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type BuildOptions, buildSync } from "esbuild";
import { cachedBuild } from "../../infra/cachedBuild";

describe("esbuild's output cached by the content of what it read", () => {
  let dir: string;
  let builds: number;
  const countingBuild = (options: BuildOptions) => {
    builds++;
    return buildSync(options);
  };
  /** A bundle of `entry.ts`, which imports `price.ts`, cached under `dir/cache`. */
  const bundle = (cacheDir = path.join(dir, "cache"), outfile = "out.js") =>
    cachedBuild(
      {
        entryPoints: [path.join(dir, "entry.ts")],
        absWorkingDir: dir,
        bundle: true,
        platform: "node",
        format: "cjs",
        outfile: path.join(dir, outfile),
        logLevel: "silent",
      },
      { cacheDir, build: countingBuild },
    );
  const run = (code: string) => {
    const module = { exports: {} as { total?: number } };
    new Function("module", "exports", "require", code)(module, module.exports, require);
    return module.exports.total;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-cached-build-"));
    fs.writeFileSync(path.join(dir, "price.ts"), "export const price: number = 2;\n");
    fs.writeFileSync(
      path.join(dir, "entry.ts"),
      'import { price } from "./price";\nexport const total = price * 21;\n',
    );
    builds = 0;
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("builds once, then serves the same output without esbuild while no input changed", () => {
    const first = bundle();
    const second = bundle();
    assert.equal(builds, 1);
    assert.deepEqual(second, first);
    assert.equal(run(first[0].text), 42);
  });

  it("builds again when a file the build read changes, even one only imported", () => {
    bundle();
    fs.writeFileSync(path.join(dir, "price.ts"), "export const price: number = 3;\n");
    const changed = bundle();
    assert.equal(builds, 2);
    assert.equal(run(changed[0].text), 63);
    bundle();
    assert.equal(builds, 2, "and keeps the new output");
  });

  it("builds when the cache holds something unreadable, and works without a cache it cannot write", () => {
    bundle();
    const cacheDir = path.join(dir, "cache");
    for (const entry of fs.readdirSync(cacheDir)) fs.writeFileSync(path.join(cacheDir, entry), "{not json");
    assert.equal(run(bundle()[0].text), 42);
    assert.equal(builds, 2);

    const blocked = path.join(dir, "a-file");
    fs.writeFileSync(blocked, "");
    assert.equal(run(bundle(path.join(blocked, "cache"))[0].text), 42);
    assert.equal(run(bundle(path.join(blocked, "cache"))[0].text), 42);
    assert.equal(builds, 4);
  });

  it("drops entries unused for a day when it writes one, and keeps those in use", async () => {
    const cacheDir = path.join(dir, "cache");
    bundle();
    const [rewritten] = fs.readdirSync(cacheDir);
    bundle(cacheDir, "other.js");
    const [used] = fs.readdirSync(cacheDir).filter((entry) => entry !== rewritten);
    const unused = "0".repeat(64) + ".json";
    fs.writeFileSync(path.join(cacheDir, unused), "{}");
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    for (const entry of [rewritten, used, unused])
      fs.utimesSync(path.join(cacheDir, entry), twoDaysAgo, twoDaysAgo);

    bundle(cacheDir, "other.js");
    // The hit marks its entry used without waiting for it.
    const markedUsed = () => fs.statSync(path.join(cacheDir, used)).mtimeMs > twoDaysAgo.getTime();
    for (let waited = 0; !markedUsed() && waited < 10_000; waited += 10)
      await new Promise((resolve) => setTimeout(resolve, 10));
    fs.writeFileSync(path.join(dir, "price.ts"), "export const price: number = 5;\n");
    bundle();
    assert.deepEqual(fs.readdirSync(cacheDir).sort(), [rewritten, used].sort());
  });
});
