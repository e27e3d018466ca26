/**
 * The engine's three ways to run a program: to completion with its output in the step's log,
 * to read what it prints, or as a daemon that outlives `npm run engine`.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";

export interface LoggedOptions {
  log: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with every line the program prints, for progress. */
  onLine?: (line: string) => void;
}

/** Lines of the log quoted when a command fails. */
const failureTail = 25;

/** Runs `argv` to completion, its output appended to the log; rejects on a non-zero exit with the log's tail. */
export function runLogged(argv: readonly string[], options: LoggedOptions): Promise<void> {
  const [command, ...args] = argv;
  fs.appendFileSync(options.log, `$ ${argv.join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = fs.createWriteStream(options.log, { flags: "a" });
    let partial = "";
    const onData = (chunk: Buffer) => {
      out.write(chunk);
      if (!options.onLine) return;
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (error) => {
      out.end();
      reject(new Error(`${command}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      out.end(() => {
        if (code === 0) return resolve();
        const tail = fs.readFileSync(options.log, "utf8").trimEnd().split("\n").slice(-failureTail);
        reject(new Error(`${command} ${args.join(" ")} exited with ${code ?? signal}\n${tail.join("\n")}`));
      });
    });
  });
}

export interface Captured {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` and returns what it printed; a missing program is exit code 127, like a shell's. */
export function capture(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Captured> {
  const [command, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", (error) => resolve({ code: 127, stdout, stderr: `${stderr}${error.message}` }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    // A program that exits (or never starts) before it reads its input breaks the pipe; its exit
    // code says what happened, and an unhandled EPIPE would end the whole engine build instead.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
  });
}

/** Like `capture`, but rejects unless the program exits 0; resolves with its stdout. */
export async function captureChecked(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<string> {
  const result = await capture(argv, options);
  if (result.code !== 0) {
    throw new Error(
      `${argv.join(" ")} exited with ${result.code}: ${(result.stderr || result.stdout).trim()}`,
    );
  }
  return result.stdout;
}

/** Starts a daemon in its own session, output to `log`, and records its pid; it keeps running after we exit. */
export function startDaemon(argv: readonly string[], options: { log: string; pidFile: string }): number {
  const [command, ...args] = argv;
  const output = fs.openSync(options.log, "a");
  const child = spawn(command, args, { detached: true, stdio: ["ignore", output, output] });
  fs.closeSync(output);
  if (child.pid === undefined) throw new Error(`${command} could not be started`);
  child.unref();
  fs.writeFileSync(options.pidFile, `${child.pid}\n`);
  return child.pid;
}

/** Stops the daemon whose pid `pidFile` records (SIGTERM, then SIGKILL after `graceMs`); false if it was not running. */
export async function stopDaemon(pidFile: string, graceMs = 20_000): Promise<boolean> {
  if (!fs.existsSync(pidFile)) return false;
  const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
  fs.rmSync(pidFile);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) return false;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive()) process.kill(pid, "SIGKILL");
  return true;
}

/** Polls `ready` until it resolves true; rejects after `timeoutMs` with `what`. */
export async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
