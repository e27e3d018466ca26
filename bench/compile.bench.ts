/**
 * The program's start under `pulumi up`, up to its first line: the SDK and every module
 * `infra/index.ts` imports, each run in a fresh process. What `pulumi up` runs now, the launcher
 * (`infra/launch.js`: esbuild, one pass), against what the language host does with
 * `typescript: true` (TypeScript to read the tsconfig, then ts-node, here with SWC and without
 * type checking, its fastest setting), alternating, so both meet the same machine. Each run stops
 * where the program first reads its stack config, which the bench does not give it. The launcher
 * also defers the SDK's modules the program never calls (`infra/deferredSdkModules.js`).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { type BenchReport, median, round } from "./report";

const runs = 7;
const repoRoot = path.join(__dirname, "..");
const infra = path.join(repoRoot, "infra");

const loaders = {
  launcher: `require(${JSON.stringify(path.join(infra, "launch.js"))});`,
  "ts-node": `
    require("typescript");
    require("ts-node").register({ transpileOnly: true, swc: true, project: ${JSON.stringify(path.join(repoRoot, "tsconfig.json"))} });
    require(${JSON.stringify(path.join(infra, "index.ts"))});`,
} as const;
type Loader = keyof typeof loaders;

/** Milliseconds from the process's start to the program asking for its config. */
function loadOnce(loader: Loader): number {
  const script = `
    try { ${loaders[loader]} } catch (error) {
      if (!/invalid stack configuration/.test(error.message)) throw error;
      console.log(performance.now());
    }
  `;
  const child = spawnSync(process.execPath, ["-e", script], { cwd: infra, encoding: "utf8" });
  if (child.status !== 0 || child.stdout.trim() === "")
    throw new Error(`loading the program failed:\n${child.stderr}`);
  return Number(child.stdout.trim());
}

export default async function compile(): Promise<BenchReport> {
  const times: Record<Loader, number[]> = { launcher: [], "ts-node": [] };
  for (let i = 0; i < runs; i++)
    for (const loader of Object.keys(loaders) as Loader[]) times[loader].push(loadOnce(loader));
  const launcherMs = round(median(times.launcher), 0);
  const tsNodeMs = round(median(times["ts-node"]), 0);
  return {
    name: "compile",
    table: [
      {
        loader: "infra/launch.js (esbuild)",
        "median ms": launcherMs,
        "min ms": round(Math.min(...times.launcher), 0),
      },
      { loader: "ts-node, SWC", "median ms": tsNodeMs, "min ms": round(Math.min(...times["ts-node"]), 0) },
    ],
    figures: { launcherMs, tsNodeMs, savedMs: tsNodeMs - launcherMs, ratio: round(tsNodeMs / launcherMs) },
    notes: [
      `median of ${runs} fresh processes each, alternating; the SDK's own load is in both, less what the launcher defers`,
    ],
  };
}
