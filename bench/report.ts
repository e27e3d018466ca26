import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What one benchmark hands back to `bench/run.ts`: a table to print and figures to compare. */
export interface BenchReport {
  name: string;
  /** Rows printed as a table; every row has the same columns. */
  table: Record<string, string | number>[];
  /** The numbers worth comparing between runs (units in the key, e.g. `p50Ms`). */
  figures: Record<string, number>;
  notes?: string[];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function printTable(
  rows: Record<string, string | number>[],
  print = (line: string) => console.log(line),
): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cells = rows.map((row) => columns.map((column) => String(row[column] ?? "")));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => `  ${values.map((value, i) => value.padStart(widths[i])).join("  ")}`;
  print(line(columns));
  for (const row of cells) print(line(row));
}

/** Writes `bench/results/[<prefix>-]<time>.json` with the machine's shape beside the figures; returns its path. */
export function saveReports(reports: BenchReport[], prefix?: string): string {
  const resultsDir = path.join(__dirname, "results");
  fs.mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = path.join(resultsDir, `${prefix ? `${prefix}-` : ""}${stamp}.json`);
  const machine = { node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg() };
  fs.writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), machine, reports }, null, 2)}\n`);
  return file;
}
