/**
 * `npm run test:mutation [-- <module>...]`: StrykerJS over the pure modules that decide what is
 * safe, each module against its own fast unit tests only — a mutant another module's tests
 * happen to kill does not count. One Stryker run per module; their reports are merged into
 * `reports/mutation/mutation.json` (Stryker's JSON report format) and a table of scores is
 * printed. Not part of every CI run (about 2 minutes on 2 cores, more as the tests grow): run it
 * when you change one of these modules or its tests.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { printTable } from "../bench/report";

export interface MutationTarget {
  /** Short name, for the table and `npm run test:mutation -- <name>`. */
  name: string;
  module: string;
  /** Top-level functions to mutate, when only part of the module is pure; the whole file otherwise. */
  functions?: string[];
  tests: string[];
}

export const mutationTargets: readonly MutationTarget[] = [
  {
    name: "healthStatus",
    module: "components/providers/healthStatus.ts",
    tests: ["test/unit/healthStatus.test.ts"],
  },
  {
    name: "healthGate",
    module: "components/providers/healthGate.ts",
    functions: [
      "gateSettings",
      "gateSpecProblems",
      "failureMessage",
      "judgeReport",
      "requestFailure",
      "displayUrl",
      "isHttpUrl",
      "isFiniteNumber",
    ],
    tests: ["test/unit/healthGate.test.ts"],
  },
  { name: "images", module: "infra/images.ts", tests: ["test/unit/images.test.ts"] },
  {
    name: "dockerReadBack",
    module: "infra/dockerReadBack.ts",
    tests: ["test/unit/dockerReadBack.test.ts"],
  },
  {
    name: "snapshotFiles",
    module: "components/providers/snapshotFiles.ts",
    tests: ["test/unit/snapshotFiles.test.ts"],
  },
  {
    name: "nginxConfig",
    module: "components/providers/nginxConfig.ts",
    functions: ["renderNginxMain", "renderRouterSite", "renderRouterFiles"],
    tests: ["test/unit/nginxConfig.test.ts"],
  },
  {
    name: "routerState",
    module: "components/providers/routerState.ts",
    // The state directory and the traffic logic; the shell scripts in routerCommands are run by
    // the integration tests against real nginx and Caddy.
    functions: [
      "routerLayout",
      "renderTlsFiles",
      "filesHash",
      "generationId",
      "certificateId",
      "forGeneration",
      "idleSlot",
      "bucketSlot",
      "routeName",
      "upstreamServers",
      "parseRoute",
      "routeEntries",
    ],
    tests: ["test/unit/nginxConfig.test.ts", "test/unit/caddyConfig.test.ts"],
  },
  {
    name: "caddyConfig",
    module: "components/providers/caddyConfig.ts",
    functions: [
      "renderCaddySite",
      "renderCaddyFiles",
      "renderCaddyBoot",
      "adminConfig",
      "fileExists",
      "setVariables",
      "headersRoute",
      "proxy",
      "routing",
      "maintenanceRoute",
    ],
    tests: ["test/unit/caddyConfig.test.ts"],
  },
  {
    name: "routerServer",
    module: "components/providers/routerServer.ts",
    tests: ["test/unit/caddyConfig.test.ts"],
  },
  {
    name: "certificatePair",
    module: "components/providers/certificatePair.ts",
    tests: ["test/unit/routerInputs.test.ts"],
  },
  { name: "names", module: "infra/names.ts", tests: ["test/unit/names.test.ts"] },
  {
    name: "configRules",
    module: "infra/config.ts",
    functions: [
      "requireOneImageSource",
      "crossKeyRules",
      "deliveryRules",
      "imageSources",
      "parseStackConfig",
      "describeIssue",
      "decodeRawConfig",
      "decodeValue",
    ],
    tests: ["test/unit/config.test.ts"],
  },
];

/** Stryker `mutate` entries: the file, or `file:start-end` for each named top-level function. */
export function mutateRanges(root: string, target: MutationTarget): string[] {
  if (!target.functions) return [target.module];
  const text = fs.readFileSync(path.join(root, target.module), "utf8");
  const source = ts.createSourceFile(target.module, text, ts.ScriptTarget.ES2022, true);
  const found = new Map<string, string>();
  for (const statement of source.statements) {
    if (!ts.isFunctionDeclaration(statement) || !statement.name) continue;
    const line = (position: number) => source.getLineAndCharacterOfPosition(position).line + 1;
    found.set(
      statement.name.text,
      `${target.module}:${line(statement.getStart())}-${line(statement.getEnd())}`,
    );
  }
  return target.functions.map((name) => {
    const range = found.get(name);
    if (range === undefined) throw new Error(`${target.module} has no top-level function ${name}`);
    return range;
  });
}

interface ReportMutant {
  status: string;
}

interface MutationReport {
  schemaVersion: string;
  thresholds: { high: number; low: number };
  files: Record<string, { language: string; source: string; mutants: ReportMutant[] }>;
  [key: string]: unknown;
}

export interface Score {
  mutants: number;
  killed: number;
  survived: number;
  noCoverage: number;
  /** Killed (timeouts included) over everything that could be killed, as Stryker computes it. */
  score: number;
}

export function scoreOf(mutants: readonly ReportMutant[]): Score {
  const count = (...statuses: string[]) =>
    mutants.filter((mutant) => statuses.includes(mutant.status)).length;
  const killed = count("Killed", "Timeout");
  const survived = count("Survived");
  const noCoverage = count("NoCoverage");
  const valid = killed + survived + noCoverage;
  return { mutants: valid, killed, survived, noCoverage, score: valid === 0 ? 100 : (100 * killed) / valid };
}

const reportDir = "reports/mutation";

/** The part of Stryker's API used here (its types need `moduleResolution: node16`, which this project does not use). */
interface StrykerModule {
  Stryker: new (options: Record<string, unknown>) => { runMutationTest(): Promise<unknown[]> };
}

async function runTarget(root: string, target: MutationTarget): Promise<MutationReport> {
  const { Stryker } = (await import("@stryker-mutator/core" as string)) as StrykerModule;
  const fileName = path.join(reportDir, `${target.name}.json`);
  const stryker = new Stryker({
    testRunner: "mocha",
    plugins: ["@stryker-mutator/mocha-runner"],
    mutate: mutateRanges(root, target),
    mochaOptions: { spec: target.tests, require: ["tsx/cjs"], "no-config": true, "no-package": true },
    coverageAnalysis: "perTest",
    concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
    timeoutMS: 10_000,
    reporters: ["json", "progress"],
    jsonReporter: { fileName },
    // The sandbox is a copy of the checkout: leave out what is big and not needed to test.
    ignorePatterns: [".engine", "bench/results", "test/e2e", "examples/**/node_modules", "reports"],
    disableTypeChecks: "{infra,components}/**/*.ts",
    tempDirName: ".stryker-tmp",
    cleanTempDir: "always",
  });
  await stryker.runMutationTest();
  return JSON.parse(fs.readFileSync(path.join(root, fileName), "utf8")) as MutationReport;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, "..");
  process.chdir(root);
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !mutationTargets.some((target) => target.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown module ${unknown.join(", ")}; known: ${mutationTargets.map((t) => t.name).join(", ")}`,
    );
  }
  const targets = mutationTargets.filter((target) => wanted.length === 0 || wanted.includes(target.name));
  const rows: Record<string, string | number>[] = [];
  let merged: MutationReport | undefined;
  for (const target of targets) {
    console.log(`\n== ${target.name}: ${target.module} against ${target.tests.join(", ")}`);
    const report = await runTarget(root, target);
    merged = merged ? { ...merged, files: { ...merged.files, ...report.files } } : report;
    const score = scoreOf(Object.values(report.files).flatMap((file) => file.mutants));
    rows.push({
      module: target.module + (target.functions ? " (pure functions)" : ""),
      mutants: score.mutants,
      killed: score.killed,
      survived: score.survived,
      "no coverage": score.noCoverage,
      score: `${score.score.toFixed(1)}%`,
    });
  }
  if (merged) fs.writeFileSync(path.join(reportDir, "mutation.json"), JSON.stringify(merged));
  console.log("");
  printTable(rows);
  console.log(`\n  report: ${path.join(reportDir, "mutation.json")}`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
