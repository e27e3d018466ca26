/**
 * The engine's own account of an update: `pulumi up --json` streams one JSON event per line as
 * it goes. Read afterwards for order, or stamped as each line arrives for timings (the events
 * carry whole seconds only).
 */
import { hasRole } from "../../../infra/names";
import { spawn } from "node:child_process";
import * as readline from "node:readline";
import type { TestStack } from "./engine";

export interface EngineEvent {
  sequence: number;
  preludeEvent?: object;
  summaryEvent?: object;
  resourcePreEvent?: { metadata: StepMetadata };
  resOutputsEvent?: { metadata: StepMetadata };
  resOpFailedEvent?: { metadata: StepMetadata };
}

export interface StepMetadata {
  op: string;
  urn: string;
  type: string;
}

/** An event and when it reached the file, in ms since the epoch. */
export interface StampedEvent {
  at: number;
  event: EngineEvent;
}

function parseLines(text: string): EngineEvent[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as EngineEvent);
}

/** The events of a finished `--json` update, in order. */
export function readEvents(stdout: string): EngineEvent[] {
  return parseLines(stdout).sort((a, b) => a.sequence - b.sequence);
}

/** The step of `event` on the resource of `role` (`router-upstream`, whatever the deployment's name), if it is one. */
export function stepOf(
  event: EngineEvent,
  kind: "resourcePreEvent" | "resOutputsEvent",
  role: string,
): StepMetadata | undefined {
  const metadata = event[kind]?.metadata;
  return metadata && hasRole(metadata.urn.split("::").pop() ?? "", role) ? metadata : undefined;
}

export interface TimedUpdate {
  code: number | null;
  /** Every line the update wrote, for failure messages. */
  output: string;
  startedAt: number;
  exitedAt: number;
  events: StampedEvent[];
}

/** Runs `pulumi <args> --json`, stamping each event as its line arrives. */
export function timedUpdate(stack: TestStack, args: readonly string[]): Promise<TimedUpdate> {
  const startedAt = Date.now();
  const child = spawn("pulumi", [...args, "--stack", stack.stack, "--non-interactive", "--json"], {
    cwd: stack.programDir,
    env: stack.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events: StampedEvent[] = [];
  const output: string[] = [];
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    output.push(line);
    if (line.startsWith("{")) events.push({ at: Date.now(), event: JSON.parse(line) as EngineEvent });
  });
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, output: output.join("\n"), startedAt, exitedAt: Date.now(), events }),
    );
  });
}
