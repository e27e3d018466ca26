/**
 * `npm run engine`: prepares this machine for a real `pulumi up` of this project — the Pulumi CLI
 * and its Node language host (a user's own when one recent enough is on PATH, else built from Go
 * modules), the host for dynamic providers, the provider plugins, the native demo app, the S3
 * server standing in for MinIO, Pebble (a test ACME CA) and its DNS test server, a Docker engine,
 * a local registry and the images the stacks and tests use. Idempotent: a second run checks and
 * finishes in seconds. `npm run engine -- stop` stops the daemons it started, and nothing else.
 *
 * Figures (time of every step, peak memory of each build, the Go module cache) are printed and
 * saved to `bench/results/engine-<time>.json`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type BenchReport, printTable, saveReports } from "../bench/report";
import { dockerdPidFile, ensureDockerEngine } from "./dockerd";
import { engineEnvironment, renderEnvFile, withEngine } from "./env";
import { installFile } from "./files";
import { caddy, cli, languageHost, nativeApp, pebble, pebbleChallTestSrv, s3Standin } from "./binaries";
import { type GoBinary, type GoBuild, goBinary, goProgram } from "./go";
import { buildImage, imageSpecs, importMinbase } from "./images";
import { type EngineLayout, engineLayout, repoRoot } from "./layout";
import { providePlugin, providerPlugins } from "./plugins";
import { formatVersion, pulumiOnPath } from "./pulumi";
import { ensureRegistry, registryPidFile } from "./registry";
import { capture, captureChecked, stopDaemon } from "./shell";
import {
  formatSeconds,
  runSteps,
  type Step,
  type StepContext,
  StepFailed,
  type StepRecord,
  type StepResult,
} from "./steps";

/** Where the CLI in use lives; set by the first step, read by the ones after it. */
interface Selection {
  pulumiDir: string;
  builtCli: boolean;
}

/** Installs a build from the cache as `.engine/bin/<name>`; "present" when nothing changed. */
function installBuild(
  layout: EngineLayout,
  name: string,
  build: Omit<GoBuild, "version">,
  detail: string,
): StepResult {
  const target = path.join(layout.bin, name);
  const copied = installFile(build.file, target);
  return {
    outcome: build.outcome === "cached" && !copied ? "present" : build.outcome,
    detail: `${target} ${detail}`,
    figures: build.figures,
  };
}

/** Builds `binary` (or takes it from the cache) and installs it in `.engine/bin`. */
async function installBinary(
  layout: EngineLayout,
  binary: GoBinary,
  lock: unknown,
  context: StepContext,
): Promise<StepResult & { version: string }> {
  const build = await goBinary(layout, binary, lock, context);
  return { ...installBuild(layout, binary.name, build, `v${build.version}`), version: build.version };
}

/** `pulumi version` of the CLI we built must be the version it was built as: the release flags stamp it. */
async function checkCliVersion(layout: EngineLayout, version: string): Promise<void> {
  const target = path.join(layout.bin, cli.name);
  const env = { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" };
  const reported = (await captureChecked([target, "version"], { env })).trim();
  if (reported !== `v${version}`) throw new Error(`${target} reports ${reported}, not v${version}`);
}

function engineSteps(layout: EngineLayout, lock: unknown, selection: Selection): Step[] {
  const pulumiEnv = () => withEngine(engineEnvironment(layout, selection.pulumiDir));
  const demoAppVersion = (
    JSON.parse(fs.readFileSync(path.join(layout.root, "examples/demo-app/package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  return [
    {
      id: "pulumi",
      title: "Pulumi CLI",
      run: async (context) => {
        const onPath = await pulumiOnPath(process.env.PATH ?? "", [layout.bin]);
        if (onPath.found) {
          selection.pulumiDir = onPath.found.dir;
          const version = formatVersion(onPath.found.version);
          return {
            outcome: "present",
            detail: `pulumi v${version} on PATH (${onPath.found.dir}): using it, not building`,
          };
        }
        selection.builtCli = true;
        const result = await installBinary(layout, cli, lock, context);
        await checkCliVersion(layout, result.version);
        return onPath.rejected
          ? { ...result, detail: `${result.detail} (not using ${onPath.rejected})` }
          : result;
      },
    },
    {
      id: "language-nodejs",
      title: "Node.js language host",
      run: async (context) =>
        selection.builtCli
          ? installBinary(layout, languageHost, lock, context)
          : { outcome: "present", detail: `the one beside pulumi in ${selection.pulumiDir}` },
    },
    {
      id: "dynamic-provider-host",
      title: "Dynamic provider host",
      run: async () => {
        const script = path.join(layout.root, "node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs");
        if (!fs.existsSync(script)) throw new Error(`${script} is missing: run npm ci first`);
        const target = path.join(layout.bin, "pulumi-resource-pulumi-nodejs");
        const copied = installFile(script, target);
        return { outcome: copied ? "built" : "present", detail: `${target} from @pulumi/pulumi` };
      },
    },
    ...providerPlugins.map((plugin): Step => ({
      id: `plugin-${plugin.name}`,
      title: `Provider plugin ${plugin.name}`,
      run: (context) =>
        providePlugin(
          plugin,
          {
            layout,
            lock,
            pulumi: path.join(selection.pulumiDir, "pulumi"),
            env: pulumiEnv(),
          },
          context,
        ),
    })),
    ...[nativeApp, s3Standin, caddy].map((program): Step => ({
      id: program.name,
      title: program.title,
      run: async (context) =>
        installBuild(layout, program.name, await goProgram(layout, program, context), `from ${program.dir}`),
    })),
    ...(
      [
        [pebble, "Pebble (test ACME CA)"],
        [pebbleChallTestSrv, "Pebble's DNS and challenge test server"],
      ] as const
    ).map(([binary, title]): Step => ({
      id: binary.name,
      title,
      run: (context) => installBinary(layout, binary, lock, context),
    })),
    { id: "docker", title: "Docker engine", run: (context) => ensureDockerEngine(layout, context) },
    { id: "registry", title: "Local registry", run: (context) => ensureRegistry(layout, context) },
    { id: "minbase", title: "Debian minbase image", run: (context) => importMinbase(layout, context) },
    ...imageSpecs(demoAppVersion).map((spec): Step => ({
      id: `image-${spec.name}`,
      title: `Image ${spec.name}`,
      run: (context) => buildImage(layout, spec, context),
    })),
    {
      id: "environment",
      title: "Environment file",
      run: async () => {
        const text = renderEnvFile(engineEnvironment(layout, selection.pulumiDir));
        const same = fs.existsSync(layout.envFile) && fs.readFileSync(layout.envFile, "utf8") === text;
        if (!same) fs.writeFileSync(layout.envFile, text);
        return {
          outcome: same ? "present" : "built",
          detail: `source ${path.relative(layout.root, layout.envFile)}`,
        };
      },
    },
  ];
}

async function directoryMb(dir: string): Promise<number> {
  const result = await capture(["du", "-sm", dir]);
  return result.code === 0 ? Number(result.stdout.split(/\s/)[0]) : 0;
}

async function report(
  layout: EngineLayout,
  records: StepRecord[],
  totalSeconds: number,
): Promise<BenchReport> {
  const figures: Record<string, number> = { totalSeconds: Math.round(totalSeconds) };
  for (const record of records) {
    figures[`${record.id}Seconds`] = Math.round(record.seconds * 10) / 10;
    for (const [key, value] of Object.entries(record.figures ?? {})) figures[`${record.id}.${key}`] = value;
  }
  figures.goModuleCacheMb = await directoryMb(layout.cache.goModules);
  figures.goBuildCacheMb = await directoryMb(layout.cache.goBuild);
  return {
    name: "engine",
    table: records.map((record) => ({
      step: record.title,
      outcome: record.outcome,
      time: formatSeconds(record.seconds),
      "peak RSS MB": record.figures?.peakRssMb ?? "",
    })),
    figures,
  };
}

async function prepare(layout: EngineLayout): Promise<void> {
  const lock = JSON.parse(fs.readFileSync(path.join(layout.root, "package-lock.json"), "utf8")) as unknown;
  const selection: Selection = { pulumiDir: layout.bin, builtCli: false };
  const started = Date.now();
  const records = await runSteps(engineSteps(layout, lock, selection), { logs: layout.logs });
  const summary = await report(layout, records, (Date.now() - started) / 1000);
  console.log("");
  printTable(summary.table);
  console.log(
    `  total ${formatSeconds(summary.figures.totalSeconds)}; Go module cache ${summary.figures.goModuleCacheMb} MB`,
  );
  console.log(`  figures: ${path.relative(layout.root, saveReports([summary], "engine"))}`);
}

async function stop(layout: EngineLayout): Promise<void> {
  for (const [what, pidFile] of [
    ["registry", registryPidFile(layout)],
    ["dockerd", dockerdPidFile(layout)],
  ] as const) {
    console.log((await stopDaemon(pidFile)) ? `stopped ${what}` : `${what}: not started by npm run engine`);
  }
}

async function main(): Promise<void> {
  const layout = engineLayout(repoRoot);
  const [command = "prepare", ...rest] = process.argv.slice(2);
  if (rest.length > 0 || (command !== "prepare" && command !== "stop")) {
    throw new Error(`usage: npm run engine [-- stop]; got ${process.argv.slice(2).join(" ")}`);
  }
  await (command === "stop" ? stop(layout) : prepare(layout));
}

main().catch((error: unknown) => {
  if (!(error instanceof StepFailed)) console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
