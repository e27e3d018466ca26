/**
 * `npm run check`: the committed stack files pass as they are, encrypted values and all; a broken
 * copy gets every problem at once, with key paths and never a value; bad usage exits 2.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main } from "../../bin/check";
import { repoRoot } from "../support/program";

function check(argv: string[], projectDir = repoRoot): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    projectDir,
  });
  return { code, out, err };
}

describe("npm run check", () => {
  for (const stack of ["dev", "stage", "production"]) {
    it(`passes the committed Pulumi.${stack}.yaml, counting its encrypted values as set`, () => {
      const result = check(["--stack", stack]);
      assert.equal(result.code, 0, result.err.join("\n"));
      assert.match(
        result.out[0],
        new RegExp(`^stack ${stack} \\(.*Pulumi\\.${stack}\\.yaml\\): the config is valid$`),
      );
      if (stack !== "dev")
        assert.match(result.out[1], /encrypted, so counted as set .*switchyard:sshPrivateKey/);
    });
  }

  it("lists every problem of a broken copy at once, by key path, and no value", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-check-"));
    try {
      const file = path.join(dir, "Pulumi.broken.yaml");
      const dev = fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8");
      fs.writeFileSync(
        file,
        dev
          .replace(/^ {2}switchyard:activeSlot: /m, "  switchyrd:activeSlot: ")
          .replace(/httpPort: 8080/, "httpPort: 99999")
          .replace(/^config:\n/m, "config:\n  switchyard:tlsKey: not-a-key-hunter2\n"),
      );
      const result = check(["--stack", "broken"], dir);
      assert.equal(result.code, 1);
      const problems = result.err.slice(1).join("\n");
      assert.match(
        problems,
        /switchyrd:activeSlot: not a switchyard key; did you mean switchyard:activeSlot\?/,
      );
      assert.match(problems, /switchyard:router\.httpPort: /);
      assert.match(problems, /switchyard:tlsKey: holds a secret but is in plain text/);
      assert.ok(!problems.includes("hunter2") && !problems.includes("99999"), problems);
      assert.equal(result.err.length, 6, problems);
      // A plain-text copy given with --config holds its secrets plain by design.
      const copy = check(["--stack", "broken", "--config", file]);
      assert.equal(copy.code, 1);
      assert.ok(!copy.err.join("\n").includes("in plain text"), copy.err.join("\n"));
      assert.equal(copy.err.length, 5, copy.err.join("\n"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const argv of [[], ["--stack"], ["--stack", "../etc"], ["--stack", "dev", "--nope"]]) {
    it(`exits 2 with the usage for ${JSON.stringify(argv)}`, () => {
      const result = check(argv);
      assert.equal(result.code, 2);
      assert.match(result.err.join("\n"), /usage:\n {2}npm run check -- --stack <name>/);
    });
  }
});
