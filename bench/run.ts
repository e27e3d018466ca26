/**
 * `npm run bench [-- <name>...]`: runs every `bench/<name>.bench.ts` (or the named ones) one
 * after another, prints each table, and writes all reports to `bench/results/<time>.json`.
 * Figures only: these machines are shared, so compare ratios taken within one run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BenchReport } from "./report";

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
  const resultsDir = path.join(__dirname, "results");
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  const machine = { node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg() };
  fs.writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), machine, reports }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cells = rows.map((row) => columns.map((column) => String(row[column] ?? "")));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => `  ${values.map((value, i) => value.padStart(widths[i])).join("  ")}`;
  console.log(line(columns));
  for (const row of cells) console.log(line(row));
}

main().then(
  // Benchmarks may leave sockets or pools behind; the run is over once the report is written.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
