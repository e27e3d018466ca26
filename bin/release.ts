/**
 * `npm run release -- --stack <name> [--image <ref> --version <v>] [--switch] [-- <pulumi up options>]`:
 * one production release as the workflow runs it. Reads which slot serves, sets the idle slot's
 * image and version (and `activeSlot`, with --switch), then runs `pulumi up --yes --diff` with
 * the options after `--` (the workflow adds `--policy-pack policies`). Under GitHub Actions the
 * idle slot, the update's message and the router's URL go to `$GITHUB_OUTPUT`.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import type { CommandIo } from "./snapshot";
import { capturePulumi, isStackName } from "./pulumiCli";
import { planRelease } from "./releasePlan";

export const usage = `usage:
  npm run release -- --stack <name> [--image <ref> --version <v>] [--switch] [-- <pulumi up options>]

  --image, --version   the idle slot's new image (by digest or immutable tag) and the version it reports
  --switch             move traffic to the idle slot once it is healthy; alone, a rollback`;

/** How the command reaches pulumi: injected so the tests can watch it. */
export interface Pulumi {
  /** Runs `pulumi <args>` and resolves with its stdout; rejects with its stderr on failure. */
  capture(args: readonly string[]): Promise<string>;
  /** Runs `pulumi <args>` with its output shown as it comes; resolves with the exit code. */
  stream(args: readonly string[]): Promise<number>;
}

export async function main(argv: readonly string[], io: CommandIo, pulumi: Pulumi): Promise<number> {
  let options: { stack?: string; image?: string; version?: string; switch?: boolean };
  let upOptions: string[];
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        stack: { type: "string" },
        image: { type: "string" },
        version: { type: "string" },
        switch: { type: "boolean", default: false },
      },
      allowPositionals: true,
      tokens: true,
    });
    options = parsed.values;
    const separator = parsed.tokens?.find((token) => token.kind === "option-terminator");
    if (parsed.positionals.length > 0 && !separator)
      throw new Error(`unexpected argument ${parsed.positionals[0]}: pulumi up options go after --`);
    upOptions = parsed.positionals;
    if (!options.stack || !isStackName(options.stack, { qualified: true }))
      throw new Error("--stack <name> is required: a stack name such as production");
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const stack = ["--stack", options.stack];
  try {
    const configured = (await pulumi.capture(["config", "get", "activeSlot", ...stack])).trim();
    const deployed = await pulumi
      .capture(["stack", "output", "activeSlot", ...stack])
      .then((out) => out.trim() || undefined)
      .catch(() => undefined);
    const plan = planRelease({
      configured,
      deployed,
      image: options.image,
      version: options.version,
      switchTraffic: options.switch ?? false,
    });
    if ("problems" in plan) {
      for (const problem of plan.problems) io.err(`release: ${problem}`);
      return 1;
    }
    for (const [key, value] of plan.settings)
      await pulumi.capture(["config", "set", "--path", key, value, ...stack]);
    io.out(`release: ${plan.message}`);
    writeGithubOutput(io, { idle: plan.idle, message: plan.message });
    const code = await pulumi.stream([
      "up",
      "--yes",
      "--diff",
      ...stack,
      "--message",
      plan.message,
      ...upOptions,
    ]);
    if (code !== 0) return code;
    writeGithubOutput(io, {
      "router-url": (await pulumi.capture(["stack", "output", "routerUrl", ...stack])).trim(),
    });
    return 0;
  } catch (error) {
    io.err(`release: ${(error as Error).message}`);
    return 1;
  }
}

function writeGithubOutput(io: CommandIo, values: Record<string, string>): void {
  const file = io.env.GITHUB_OUTPUT;
  if (!file) return;
  fs.appendFileSync(
    file,
    Object.entries(values)
      .map(([key, value]) => `${key}=${value}\n`)
      .join(""),
  );
}

function pulumiIn(projectDir: string): Pulumi {
  return {
    capture: (args) => capturePulumi([...args, "--non-interactive"], projectDir),
    stream: (args) =>
      new Promise((resolve, reject) => {
        const child = spawn("pulumi", [...args, "--non-interactive"], { cwd: projectDir, stdio: "inherit" });
        child.on("error", reject);
        child.on("exit", (code) => resolve(code ?? 1));
      }),
  };
}

if (require.main === module) {
  const projectDir = path.resolve(__dirname, "..");
  void main(
    process.argv.slice(2),
    { env: process.env, out: (line) => console.log(line), err: (line) => console.error(line), projectDir },
    pulumiIn(projectDir),
  ).then((code) => {
    process.exitCode = code;
  });
}
