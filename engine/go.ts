/**
 * Go binaries built from the wrapper modules in `engine/go/<module>`: each wrapper's go.mod
 * pins what is built (a `tool` line, or the module's own main packages, and their requirements)
 * and go.sum verifies it, so the versions live there and nowhere else. A binary is rebuilt only
 * when its stamp changes: the wrapper's files, the build command and the Go toolchain.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EngineLayout } from "./layout";
import { captureChecked, runLogged } from "./shell";
import type { StepContext } from "./steps";

/** Where a binary's version comes from, so it is written down once. */
export type VersionSource =
  /** The wrapper's requirement of this module (`github.com/pulumi/pulumi/pkg/v3 v3.248.0`). */
  | { from: "module"; module: string }
  /** The lock file's version of this npm package: a plugin must be the version its SDK asks for. */
  | { from: "npm"; package: string };

export interface GoBinary {
  /** File name of the binary. */
  name: string;
  /** Wrapper module, `engine/go/<module>`. */
  module: string;
  /** The main package: a `tool` of the wrapper module, or one of its own (`./cmd/<name>`). */
  package: string;
  version: VersionSource;
  /** Set to `v<version>` by the linker: without it the binary reports no version. */
  versionVariable: string;
  tags: string[];
}

/** The version a wrapper's go.mod requires of `module`, or undefined. */
export function requiredVersion(goMod: string, module: string): string | undefined {
  const escaped = module.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const line = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(goMod);
  return line?.[1];
}

/** The version of an npm package in package-lock.json (`packages["node_modules/<name>"]`), without a leading v. */
export function lockedVersion(lock: unknown, name: string): string | undefined {
  const packages = (lock as { packages?: Record<string, { version?: string }> }).packages;
  return packages?.[`node_modules/${name}`]?.version?.replace(/^v/, "");
}

/** Where a binary's version is read from: its wrapper's go.mod, or package-lock.json. */
export interface VersionSources {
  goMod(): string;
  lock: unknown;
}

/** The release version a binary reports, without the leading `v`. */
export function binaryVersion(binary: GoBinary, sources: VersionSources): string {
  const source = binary.version;
  switch (source.from) {
    case "module": {
      const version = requiredVersion(sources.goMod(), source.module);
      if (version === undefined)
        throw new Error(`engine/go/${binary.module}/go.mod does not require ${source.module}`);
      return version.replace(/^v/, "");
    }
    case "npm": {
      const version = lockedVersion(sources.lock, source.package);
      if (version === undefined) throw new Error(`package-lock.json has no ${source.package}`);
      return version;
    }
    default: {
      const unknown: never = source;
      throw new Error(`unknown version source ${JSON.stringify(unknown)}`);
    }
  }
}

/** The `go build` command line (release flags: no cgo, trimmed paths, stripped, version stamped). */
export function goBuildArgv(binary: GoBinary, version: string, output: string): string[] {
  return [
    "go",
    "build",
    "-v",
    "-o",
    output,
    "-trimpath",
    ...(binary.tags.length > 0 ? ["-tags", binary.tags.join(",")] : []),
    "-ldflags",
    `-s -w -X ${binary.versionVariable}=v${version}`,
    binary.package,
  ];
}

/** The environment of a build: module and build caches in the stable cache, go.sum must already agree. */
export function goBuildEnv(layout: EngineLayout, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    CGO_ENABLED: "0",
    GOFLAGS: "-mod=readonly -buildvcs=false",
    GOMODCACHE: layout.cache.goModules,
    GOCACHE: layout.cache.goBuild,
    GOTOOLCHAIN: env.GOTOOLCHAIN ?? "local",
  };
}

/**
 * What tfgen writes into a wrapper module before its plugin is built. Not part of any stamp: it
 * is made from the files that are (see plugins.ts).
 */
export const generatedFiles: readonly string[] = ["schema.json", "bridge-metadata.json"];

/** Every file of a wrapper module but the generated ones, by path relative to it, in path order. */
export function moduleSources(moduleDir: string): [string, string][] {
  return fs
    .readdirSync(moduleDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !generatedFiles.includes(entry.name))
    .map((entry) => path.relative(moduleDir, path.join(entry.parentPath, entry.name)))
    .sort()
    .map((file): [string, string] => [file, fs.readFileSync(path.join(moduleDir, file), "utf8")]);
}

export function buildStamp(parts: {
  sources: readonly (readonly [string, string])[];
  argv: readonly string[];
  goVersion: string;
}): string {
  return createHash("sha256")
    .update(JSON.stringify([parts.sources, parts.argv, parts.goVersion]))
    .digest("hex")
    .slice(0, 16);
}

export interface GoBuild {
  /** The binary, in the cache under its stamp. */
  file: string;
  version: string;
  outcome: "built" | "cached";
  figures: Record<string, number>;
}

/**
 * Builds `binary` into the cache unless a build with the same stamp is there already.
 * `beforeBuild` runs only when it is not, right before `go build` (tfgen writes the schema then).
 */
export async function goBinary(
  layout: EngineLayout,
  binary: GoBinary,
  lock: unknown,
  context: StepContext,
  beforeBuild?: (version: string) => Promise<void>,
): Promise<GoBuild> {
  const moduleDir = path.join(layout.goModules, binary.module);
  const version = binaryVersion(binary, {
    goMod: () => fs.readFileSync(path.join(moduleDir, "go.mod"), "utf8"),
    lock,
  });
  const build = await cachedGoBuild(
    layout,
    {
      name: binary.name,
      moduleDir,
      argv: (output) => goBuildArgv(binary, version, output),
      beforeBuild: () => beforeBuild?.(version) ?? Promise.resolve(),
    },
    context,
  );
  return { ...build, version };
}

/**
 * A program of the repository's own, in a Go module of its own: a native example app the tests
 * run on a host (standard library only, no go.sum), or a program an image runs (the S3 stand-in,
 * and Caddy, whose module in `engine/go/caddy` is a main package of its own, not a wrapper's
 * `tool` line). What it requires comes through the same module proxy and caches as the wrapper
 * modules (`goBuildEnv`), and its go.sum, part of the stamp, must already pin all of it. Nothing
 * is stamped into it: it reports a version only if it reads its own build info (Caddy does).
 */
export interface GoProgram {
  /** File name of the binary, and the id of the engine step that builds it. */
  name: string;
  /** The step's title. */
  title: string;
  /** The module's directory, relative to the repository; its main package is the module's root. */
  dir: string;
}

/**
 * Why a program's module cannot build as it is, or undefined: a module that requires others needs
 * the go.sum that pins them (the build is `-mod=readonly` and never writes one).
 */
export function programModuleProblem(
  dir: string,
  sources: readonly (readonly [string, string])[],
): string | undefined {
  const goMod = sources.find(([file]) => file === "go.mod")?.[1];
  if (goMod === undefined) return `${dir} has no go.mod`;
  if (/^\s*require\b/m.test(goMod) && !sources.some(([file]) => file === "go.sum"))
    return `${dir}/go.mod requires modules but ${dir} has no go.sum: run \`go mod tidy\` there`;
  return undefined;
}

/** The `go build` command line of a program: static (the build env has no cgo), trimmed, stripped. */
export function goProgramArgv(output: string): string[] {
  return ["go", "build", "-v", "-o", output, "-trimpath", "-ldflags", "-s -w", "."];
}

/** Builds `program` into the cache unless a build with the same stamp is there already. */
export async function goProgram(
  layout: EngineLayout,
  program: GoProgram,
  context: StepContext,
): Promise<Omit<GoBuild, "version">> {
  const moduleDir = path.join(layout.root, program.dir);
  const problem = programModuleProblem(program.dir, moduleSources(moduleDir));
  if (problem !== undefined) throw new Error(problem);
  return cachedGoBuild(layout, { name: program.name, moduleDir, argv: goProgramArgv }, context);
}

interface CachedBuildOptions {
  name: string;
  moduleDir: string;
  /** The build command writing to `output`; with the binary's name as output it is part of the stamp. */
  argv(output: string): string[];
  beforeBuild?(): Promise<void>;
}

/** The binary `<name>-<stamp>` in the cache, built in `moduleDir` only when no build of that stamp is there. */
async function cachedGoBuild(
  layout: EngineLayout,
  options: CachedBuildOptions,
  context: StepContext,
): Promise<Omit<GoBuild, "version">> {
  const env = goBuildEnv(layout);
  const goVersion = (await captureChecked(["go", "env", "GOVERSION"], { env })).trim();
  const stamp = buildStamp({
    sources: moduleSources(options.moduleDir),
    argv: options.argv(options.name),
    goVersion,
  });
  const file = path.join(layout.cache.binaries, `${options.name}-${stamp}`);
  const figures: Record<string, number> = {};
  if (fs.existsSync(file)) return { file, outcome: "cached", figures };
  await options.beforeBuild?.();

  fs.mkdirSync(layout.cache.binaries, { recursive: true });
  const partial = `${file}.partial`;
  const rssFile = `${partial}.rss`;
  const counts = { downloaded: 0, compiled: 0 };
  const timed = fs.existsSync("/usr/bin/time") ? ["/usr/bin/time", "-f", "%M", "-o", rssFile] : [];
  await runLogged([...timed, ...options.argv(partial)], {
    cwd: options.moduleDir,
    env,
    log: context.log,
    onLine: (line) => {
      if (line.startsWith("go: downloading ")) counts.downloaded++;
      else if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line)) counts.compiled++;
      else return;
      context.status(`${counts.downloaded} modules downloaded, ${counts.compiled} packages compiled`);
    },
  });
  if (fs.existsSync(rssFile)) {
    figures.peakRssMb = Math.round(Number(fs.readFileSync(rssFile, "utf8").trim()) / 1024);
    fs.rmSync(rssFile);
  }
  figures.sizeMb = Math.round(fs.statSync(partial).size / 2 ** 20);
  fs.renameSync(partial, file);
  return { file, outcome: "built", figures };
}
