import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../support/program";

const infra = path.join(repoRoot, "infra");

/** The line of `file` that holds `text`, 1-based, as a stack trace counts. */
function lineOf(file: string, text: string): number {
  const index = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .findIndex((line) => line.includes(text));
  assert.ok(index >= 0, `${text} is not in ${file}`);
  return index + 1;
}

/**
 * `infra/launch.js` as the language host runs it: plain node, no tsx. Without a stack config the
 * program stops at its first line that reads one, which is enough to see how it was loaded.
 * `after` is an expression evaluated then, or a promise of its value.
 */
function launch(after: string): { stack: string; after: unknown } {
  const script = `
    let stack;
    try { require("./launch.js"); } catch (error) { stack = error.stack; }
    Promise.resolve(${after}).then((after) => console.log(JSON.stringify({ stack, after })));
  `;
  const child = spawnSync(process.execPath, ["-e", script], {
    cwd: infra,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as { stack: string; after: unknown };
}

describe("the program's launcher", () => {
  it("runs the TypeScript program, with stack traces on its TypeScript lines", () => {
    const { stack } = launch("null");
    assert.match(stack, /invalid stack configuration/);
    const stackConfig = path.join(infra, "stackConfig.ts");
    const line = lineOf(stackConfig, "throw new pulumi.RunError(error.message)");
    assert.ok(stack.includes(`${stackConfig}:${line}:`), `no frame at ${stackConfig}:${line} in\n${stack}`);
    const index = path.join(infra, "index.ts");
    assert.ok(stack.includes(`${index}:${lineOf(index, "loadStackConfig();")}:`), stack);
  });

  it("transpiles a TypeScript module outside the program's directories when it is required", () => {
    const fixture = path.join(repoRoot, "test/fixtures/countingProvider.ts");
    const { after } = launch(`Object.keys(require(${JSON.stringify(fixture)}).countingProvider).join(",")`);
    assert.equal(after, "check,create");
  });

  it("loads closure serialization, code paths and the Automation API only once something uses them", () => {
    const { after } = launch(`(async () => {
      const loaded = (name) => Object.keys(require.cache).some((file) => file.includes(\`/node_modules/\${name}/\`));
      const pulumi = require("@pulumi/pulumi");
      const before = { typescript: loaded("typescript"), arborist: loaded("@npmcli/arborist") };
      const serialized = await pulumi.runtime.serializeFunction(() => 42);
      const codePaths = await pulumi.runtime.computeCodePaths({ extraExcludePackages: ["@pulumi/pulumi"] });
      return {
        before,
        serialized: serialized.exportName,
        typescript: loaded("typescript"),
        automation: typeof pulumi.automation.LocalWorkspace.create,
        codePaths: codePaths.size > 0,
        arborist: loaded("@npmcli/arborist"),
      };
    })()`);
    assert.deepEqual(after, {
      before: { typescript: false, arborist: false },
      serialized: "handler",
      typescript: true,
      automation: "function",
      codePaths: true,
      arborist: true,
    });
  });
});
