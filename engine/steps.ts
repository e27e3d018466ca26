/**
 * Runs the engine's steps one after another: says what each is doing before it starts, shows
 * a heartbeat while a long one runs, says how it ended and how long it took, and stops at the
 * first failure with the step's name and its log.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** How a step ended: made now, taken from a cache, already there, or started. */
export type Outcome = "built" | "cached" | "present" | "started";

export interface StepResult {
  outcome: Outcome;
  /** One line for the user: what is there now (a version, a digest, an address). */
  detail: string;
  /** Numbers for the report, units in the key (`peakRssMb`). */
  figures?: Record<string, number>;
}

export interface StepContext {
  /** This step's log file; commands append their output to it. */
  log: string;
  /** Replaces the heartbeat's status text ("412 packages compiled"). */
  status(text: string): void;
}

export interface Step {
  /** Names the step in progress lines and in the failure message. */
  title: string;
  /** Log file name under `.engine/logs`. */
  id: string;
  run(context: StepContext): Promise<StepResult>;
}

export interface StepRecord extends StepResult {
  id: string;
  title: string;
  seconds: number;
}

export class StepFailed extends Error {
  constructor(
    readonly step: Step,
    readonly log: string,
    cause: unknown,
  ) {
    super(`${step.title} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export interface RunnerOptions {
  logs: string;
  print?: (line: string) => void;
  heartbeatMs?: number;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(Math.round(seconds - minutes * 60)).padStart(2, "0")} s`;
}

export async function runSteps(steps: readonly Step[], options: RunnerOptions): Promise<StepRecord[]> {
  const print = options.print ?? ((line: string) => console.log(line));
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  fs.mkdirSync(options.logs, { recursive: true });
  const records: StepRecord[] = [];
  for (const step of steps) {
    const log = path.join(options.logs, `${step.id}.log`);
    fs.writeFileSync(log, "");
    const started = Date.now();
    const elapsed = () => (Date.now() - started) / 1000;
    let status = "";
    print(`▸ ${step.title}`);
    const heartbeat = setInterval(
      () => print(`  … ${step.title}: ${formatSeconds(elapsed())}${status ? `, ${status}` : ""}`),
      heartbeatMs,
    );
    try {
      const result = await step.run({ log, status: (text) => (status = text) });
      const seconds = elapsed();
      print(`✓ ${step.title}: ${result.detail} (${result.outcome}, ${formatSeconds(seconds)})`);
      records.push({ id: step.id, title: step.title, seconds, ...result });
    } catch (error) {
      print(`✗ ${step.title} failed after ${formatSeconds(elapsed())}: ${describe(error)}`);
      print(`  log: ${log}`);
      throw new StepFailed(step, log, error);
    } finally {
      clearInterval(heartbeat);
    }
  }
  return records;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
