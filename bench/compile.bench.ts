/**
 * The program's start under `pulumi up`: the modules `infra/index.ts` imports, loaded the way the
 * Node.js language host loads them (ts-node, transpile only, `tsconfig.pulumi.json`), each run in
 * a fresh process. SWC, which that file chooses, against TypeScript's own emitter, alternating, so
 * both meet the same machine.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { type BenchReport, median, round } from "./report";

const runs = 7;
const repoRoot = path.join(__dirname, "..");
const project = path.join(repoRoot, "tsconfig.pulumi.json");
/** What `infra/index.ts` imports: the whole program but its own evaluation. */
const programModules = [
  "components/Deployment",
  "components/providers/DockerSshKeys",
  "components/Pipeline",
  "components/target",
  "infra/config",
  "infra/names",
  "infra/stackConfig",
];
const emitters = { swc: true, typescript: false } as const;

/** Milliseconds from registering ts-node to every program module loaded, in a new node process. */
function loadOnce(swc: boolean): number {
  const script = `
    const started = performance.now();
    require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(project)}, swc: ${swc} });
    for (const file of ${JSON.stringify(programModules)}) require(require("node:path").join(${JSON.stringify(repoRoot)}, file));
    console.log(performance.now() - started);
  `;
  const child = spawnSync(process.execPath, ["-e", script], { cwd: repoRoot, encoding: "utf8" });
  if (child.status !== 0) throw new Error(`loading the program failed:\n${child.stderr}`);
  return Number(child.stdout.trim());
}

export default async function compile(): Promise<BenchReport> {
  const times: Record<keyof typeof emitters, number[]> = { swc: [], typescript: [] };
  for (let i = 0; i < runs; i++)
    for (const [emitter, swc] of Object.entries(emitters) as [keyof typeof emitters, boolean][])
      times[emitter].push(loadOnce(swc));
  const swcMs = round(median(times.swc), 0);
  const typescriptMs = round(median(times.typescript), 0);
  return {
    name: "compile",
    table: [
      {
        emitter: "SWC (tsconfig.pulumi.json)",
        "median ms": swcMs,
        "min ms": round(Math.min(...times.swc), 0),
      },
      {
        emitter: "TypeScript",
        "median ms": typescriptMs,
        "min ms": round(Math.min(...times.typescript), 0),
      },
    ],
    figures: { swcMs, typescriptMs, savedMs: typescriptMs - swcMs, ratio: round(typescriptMs / swcMs) },
    notes: [`median of ${runs} fresh processes each, alternating; the SDK's own load is in both`],
  };
}
