import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";

/** A loopback port that was free a moment ago; callers bind it straight away to keep the race window small. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not determine a free port"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for assertions that do not care which stream a message went to. */
  output: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Run as this user/group instead of ours (needs root). */
  uid?: number;
  gid?: number;
}

/** Runs a command to completion and collects its output; never rejects on a non-zero exit. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { cwd, env, uid, gid, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, uid, gid, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\n${stdout}${stderr}`),
      );
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output: stdout + stderr });
    });
  });
}

/** Like `run`, but rejects unless the command exits 0. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${result.code ?? result.signal}\n${result.output}`,
    );
  }
  return result;
}

/** A long-running child whose output is kept for assertions and failure messages. */
export class Background {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private collected = "";
  private exit: Exit | undefined;

  constructor(command: string, args: readonly string[], options: Pick<RunOptions, "cwd" | "env"> = {}) {
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.collected += chunk;
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.collected += chunk;
    });
    this.exited = new Promise((resolve) => {
      const settle = (exit: Exit) => {
        this.exit ??= exit;
        resolve(this.exit);
      };
      // 'close' rather than 'exit': it fires only after stdout/stderr are drained, so `output` is complete.
      this.child.on("close", (code, signal) => settle({ code, signal }));
      // A spawn failure (e.g. missing binary) may emit 'error' without 'close'.
      this.child.on("error", (err) => {
        this.collected += `spawn error: ${err.message}\n`;
        settle({ code: null, signal: null });
      });
    });
  }

  get output(): string {
    return this.collected;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Resolves once `pattern` appears in the output; rejects on exit or timeout. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.collected)) {
      if (!this.running) throw new Error(`process exited before printing ${pattern}\n${this.collected}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}\n${this.collected}`);
      await delay(25);
    }
  }

  /** Sends `signal`, escalating to SIGKILL after `graceMs`; safe to call on an exited process. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET on a fresh connection, so keep-alive state never leaks between assertions. */
export function httpGet(url: string, timeoutMs = 5000): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Polls until `predicate` accepts a response; connection errors count as "not yet". */
export async function waitForHttp(
  url: string,
  predicate: (res: HttpResponse) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<HttpResponse> {
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  for (;;) {
    try {
      const res = await httpGet(url, 2000);
      if (predicate(res)) return res;
      last = `HTTP ${res.status} ${res.body}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms; last: ${last}`);
    await delay(100);
  }
}
