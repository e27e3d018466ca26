/**
 * `npm run check -- --stack <name> [--config <file>]`: validates a stack's config from its stack
 * file as `pulumi up` would before it registers anything, without pulumi and without touching
 * anything. Every problem is listed with its key path, never with its value. Encrypted values
 * cannot be read here: they count as set, and their content is left to `pulumi up`.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, decodeRawConfig, parseStackConfig } from "../infra/config";
import type { CommandIo } from "./snapshot";
import { isStackName } from "./pulumiCli";
import { isKeptSecret, readStackFile } from "./stackConfigSource";

export const usage = `usage:
  npm run check -- --stack <name> [--config <file>]

Reads Pulumi.<name>.yaml (or --config <file>, laid out the same way).`;

/** What the snapshot command gets, but the environment: this one reads no variable. */
export type CheckIo = Omit<CommandIo, "env">;

/**
 * The problems `pulumi up` would report for this stack file, but those only its encrypted values
 * could settle. In a stack file a secret must be encrypted; a plain-text copy holds them plain.
 */
export function stackFileProblems(
  file: string,
  plainCopy: boolean,
): { problems: string[]; encrypted: string[] } {
  const { raw, encrypted } = readStackFile(file);
  const readable = Object.fromEntries(Object.entries(raw).filter(([key]) => !encrypted.includes(key)));
  const isSecret = plainCopy ? isKeptSecret : (key: string) => encrypted.includes(key);
  try {
    parseStackConfig(decodeRawConfig(readable, isSecret));
    return { problems: [], encrypted };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // An encrypted key is set: what is reported about it (missing, say) is about what was left out.
    const aboutEncrypted = (problem: string) =>
      encrypted.some((key) => problem.startsWith(`${key}:`) || problem.startsWith(`${key}.`));
    return { problems: error.problems.filter((problem) => !aboutEncrypted(problem)), encrypted };
  }
}

/** Resolves with the exit code: 0 valid, 1 invalid or unreadable, 2 bad usage. */
export function main(argv: readonly string[], io: CheckIo): number {
  let options: { stack?: string; config?: string };
  try {
    options = parseArgs({
      args: [...argv],
      options: { stack: { type: "string" }, config: { type: "string" } },
    }).values;
    if (!options.stack || !isStackName(options.stack, { qualified: false }))
      throw new Error("--stack <name> is required: a stack name such as production");
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const file = options.config ?? path.join(io.projectDir, `Pulumi.${options.stack}.yaml`);
  try {
    const { problems, encrypted } = stackFileProblems(file, options.config !== undefined);
    if (problems.length > 0) {
      io.err(`stack ${options.stack} (${file}): ${problems.length} problem(s):`);
      for (const problem of problems) io.err(`  - ${problem}`);
      return 1;
    }
    io.out(`stack ${options.stack} (${file}): the config is valid`);
    if (encrypted.length > 0)
      io.out(`  encrypted, so counted as set and left to pulumi up: ${encrypted.join(", ")}`);
    return 0;
  } catch (error) {
    io.err(`check: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    projectDir: path.resolve(__dirname, ".."),
  });
}
