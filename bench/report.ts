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
