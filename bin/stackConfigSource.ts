/**
 * A stack's config for commands that run outside `pulumi up`, validated by the same
 * `parseStackConfig` the program uses. Where the values come from, in this order:
 *
 * 1. `--config <file>`: a file laid out like `Pulumi.<stack>.yaml` with every value in plain
 *    text (for machines without the pulumi CLI, and for tests);
 * 2. `pulumi config --show-secrets --json --stack <stack>`, when the pulumi CLI is installed:
 *    the stack's config exactly as `pulumi up` sees it, secrets decrypted;
 * 3. `Pulumi.<stack>.yaml` itself, as long as it holds no encrypted values.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  decodeRawConfig,
  type ParsedStackConfig,
  PROJECT,
  parseStackConfig,
  secretKeys,
} from "../infra/config";
import { capturePulumi, isStackName } from "./pulumiCli";

export interface ConfigSourceOptions {
  stack: string;
  /** Plain-text config file to read instead of the stack's own config. */
  configFile?: string;
  /** The project directory (where Pulumi.yaml and the stack files are). */
  projectDir: string;
  /** PATH to look for the pulumi CLI on. */
  searchPath: string;
}

export interface LoadedStackConfig {
  config: ParsedStackConfig;
  /** Where the values came from, for the command's report. */
  source: string;
}

export async function loadStackConfigFor(options: ConfigSourceOptions): Promise<LoadedStackConfig> {
  if (!isStackName(options.stack, { qualified: true }))
    throw new Error(
      `--stack: expected a stack name such as production (or org/project/production), got ${JSON.stringify(options.stack)}`,
    );
  if (options.configFile !== undefined) {
    return {
      config: fromStackFile(options.configFile),
      source: options.configFile,
    };
  }
  const pulumi = findOnPath("pulumi", options.searchPath);
  if (pulumi) {
    return {
      config: await fromPulumiCli(pulumi, options.stack, options.projectDir),
      source: `pulumi config --stack ${options.stack}`,
    };
  }
  const stackFile = path.join(options.projectDir, `Pulumi.${path.basename(options.stack)}.yaml`);
  return { config: fromStackFile(stackFile), source: stackFile };
}

/**
 * Reads a file in the `Pulumi.<stack>.yaml` layout whose values are all plain text. The keys
 * Pulumi keeps secret count as secret here too, so the same rules apply as in the program.
 */
function fromStackFile(file: string): ParsedStackConfig {
  const { raw, encrypted } = readStackFile(file);
  if (encrypted.length > 0) {
    throw new Error(
      `${file} holds encrypted values (${encrypted.join(", ")}) and there is no pulumi CLI to decrypt them: ` +
        "install pulumi and log in to the stack's backend, or pass --config <file> with a plain-text copy",
    );
  }
  return parseStackConfig(decodeRawConfig(raw, isKeptSecret));
}

/** Whether Pulumi keeps this full key (`switchyard:tlsKey`) secret. */
export function isKeptSecret(fullKey: string): boolean {
  return (secretKeys as readonly string[]).includes(fullKey.slice(PROJECT.length + 1));
}

/** A stack file's config as Pulumi's raw map (objects as JSON), and the full keys whose values are encrypted. */
export function readStackFile(file: string): { raw: Record<string, string>; encrypted: string[] } {
  let document: unknown;
  try {
    document = parseYaml(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`cannot read stack config ${file}: ${(error as Error).message}`);
  }
  const config = (document as { config?: unknown } | null)?.config;
  if (!config || typeof config !== "object")
    throw new Error(`${file}: expected a top-level \`config:\` map, as in Pulumi.<stack>.yaml`);
  const raw: Record<string, string> = {};
  const encrypted: string[] = [];
  for (const [fullKey, value] of Object.entries(config)) {
    if (holdsEncryptedValue(value)) encrypted.push(fullKey);
    raw[fullKey] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { raw, encrypted };
}

function holdsEncryptedValue(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  if (!Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value) return true;
  return Object.values(value).some(holdsEncryptedValue);
}

/** `pulumi config --json` gives each key's text (JSON for objects) and whether it is secret. */
async function fromPulumiCli(pulumi: string, stack: string, projectDir: string): Promise<ParsedStackConfig> {
  const args = ["config", "--show-secrets", "--json", "--stack", stack];
  const stdout = await capturePulumi(args, projectDir, pulumi);
  let entries: Record<string, { value?: unknown; secret?: boolean }>;
  try {
    entries = JSON.parse(stdout);
  } catch {
    throw new Error(`pulumi ${args.join(" ")} printed something other than JSON`);
  }
  const raw: Record<string, string> = {};
  const secret = new Set<string>();
  for (const [fullKey, entry] of Object.entries(entries)) {
    if (typeof entry?.value !== "string") continue;
    raw[fullKey] = entry.value;
    if (entry.secret) secret.add(fullKey);
  }
  return parseStackConfig(decodeRawConfig(raw, (fullKey) => secret.has(fullKey)));
}

function findOnPath(command: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  return undefined;
}
