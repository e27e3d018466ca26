/**
 * The Pulumi CLI this project runs: a user's own when one recent enough is on PATH, else the
 * one `npm run engine` built. And the plugins it registers in the project's PULUMI_HOME.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { sameContent } from "./files";
import { capture, runLogged } from "./shell";

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
}

/** `pulumi version` prints `v3.248.0` (or `v3.248.0-dev.0`); anything else is not a version. */
export function parseVersion(text: string): SemVer | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+][\w.-]*)?$/.exec(text.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

export function compareVersions(a: SemVer, b: SemVer): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatVersion(version: SemVer): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

/**
 * The oldest CLI this project accepts on PATH: from 3.221 the CLI runs a Node policy pack through
 * the language host, which is how `pulumi preview --policy-pack policies` works here.
 */
export const minimumPulumi: SemVer = { major: 3, minor: 221, patch: 0 };

/** Why a CLI of `version` will not do, or undefined when it will. */
export function unsuitablePulumi(version: SemVer | undefined): string | undefined {
  if (version === undefined) return "does not report a version";
  if (version.major !== minimumPulumi.major)
    return `is major version ${version.major}, not ${minimumPulumi.major}`;
  if (compareVersions(version, minimumPulumi) < 0) return `is older than ${formatVersion(minimumPulumi)}`;
  return undefined;
}

export interface FoundPulumi {
  dir: string;
  version: SemVer;
}

/** A `pulumi` on PATH, outside the directories we manage ourselves, and what is wrong with it if anything. */
export async function pulumiOnPath(
  pathVariable: string,
  ignoreDirs: readonly string[],
): Promise<{ found?: FoundPulumi; rejected?: string }> {
  for (const dir of pathVariable.split(":").filter(Boolean)) {
    if (ignoreDirs.some((ignored) => path.resolve(dir) === path.resolve(ignored))) continue;
    const binary = path.join(dir, "pulumi");
    if (!isExecutable(binary)) continue;
    const result = await capture([binary, "version"], {
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    const version = result.code === 0 ? parseVersion(result.stdout) : undefined;
    const problem = unsuitablePulumi(version);
    if (problem) return { rejected: `${binary} ${problem}` };
    return { found: { dir, version: version as SemVer } };
  }
  return {};
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Where `pulumi plugin install resource <name> <version>` puts the binary under PULUMI_HOME. */
export function installedPluginPath(pulumiHome: string, name: string, version: string): string {
  return path.join(pulumiHome, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`);
}

export function pluginInstallArgv(pulumi: string, name: string, version: string, file: string): string[] {
  return [pulumi, "plugin", "install", "resource", name, version, "--file", file, "--reinstall"];
}

/** Registers `file` as plugin `name@version` unless that exact binary is registered already. */
export async function registerPlugin(options: {
  pulumi: string;
  env: NodeJS.ProcessEnv;
  pulumiHome: string;
  name: string;
  version: string;
  file: string;
  log: string;
}): Promise<"present" | "registered"> {
  const installed = installedPluginPath(options.pulumiHome, options.name, options.version);
  if (fs.existsSync(installed) && sameContent(installed, options.file)) return "present";
  await runLogged(pluginInstallArgv(options.pulumi, options.name, options.version, options.file), {
    env: options.env,
    log: options.log,
  });
  if (!fs.existsSync(installed)) throw new Error(`pulumi plugin install did not create ${installed}`);
  return "registered";
}
