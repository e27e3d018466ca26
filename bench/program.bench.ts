/**
 * Program evaluation time: the real `infra/index.ts` under Pulumi mocks with the real stack
 * files, from loading the program to every registration settled.
 */
import { performance } from "node:perf_hooks";
import { runProgram, type StackName } from "../test/support/program";
import { type BenchReport, median, percentile, round } from "./report";

const runs = 15;

export default async function programEvaluation(): Promise<BenchReport> {
  const table: BenchReport["table"] = [];
  const figures: BenchReport["figures"] = {};
  for (const stack of ["production", "stage", "dev"] satisfies StackName[]) {
    const times: number[] = [];
    let resources = 0;
    for (let i = 0; i <= runs; i++) {
      const started = performance.now();
      const run = await runProgram(stack);
      const elapsed = performance.now() - started;
      if (run.error) throw run.error;
      resources = run.registrations.length;
      // The first run also loads the SDK and compiles the program: report it apart.
      if (i === 0) figures[`${stack}ColdMs`] = round(elapsed);
      else times.push(elapsed);
    }
    figures[`${stack}MedianMs`] = round(median(times));
    table.push({
      stack,
      resources,
      "cold ms": figures[`${stack}ColdMs`],
      "median ms": figures[`${stack}MedianMs`],
      "p90 ms": round(percentile(times, 90)),
      runs,
    });
  }
  return {
    name: "program",
    table,
    figures,
    notes: ["median/p90 over warm runs; cold = first run in the process (SDK load + compile)"],
  };
}
