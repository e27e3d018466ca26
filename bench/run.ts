/**
 * `npm run bench [-- <name>...]`: runs every `bench/<name>.bench.ts` (or the named ones) one
 * after another, prints each table, and writes all reports to `bench/results/<time>.json`.
 * Figures only: these machines are shared, so compare ratios taken within one run.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type BenchReport, printTable, saveReports } from "./report";

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const available = fs
    .readdirSync(__dirname)
    .filter((file) => file.endsWith(".bench.ts"))
    .map((file) => file.slice(0, -".bench.ts".length))
    .sort();
  const unknown = wanted.filter((name) => !available.includes(name));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark ${unknown.join(", ")}; available: ${available.join(", ")}`);
  }
  const reports: BenchReport[] = [];
  for (const name of wanted.length > 0 ? wanted : available) {
    console.log(`\n== ${name}`);
    const started = Date.now();
    const bench = (await import(path.join(__dirname, `${name}.bench.ts`))) as {
      default: () => Promise<BenchReport>;
    };
    const report = await bench.default();
    printTable(report.table);
    for (const note of report.notes ?? []) console.log(`  ${note}`);
    console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    reports.push(report);
  }
  const file = saveReports(reports);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

main().then(
  // Benchmarks may leave sockets or pools behind; the run is over once the report is written.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
