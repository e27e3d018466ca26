/**
 * Runs commands on the deployment target: as local child processes, or over one SSH connection
 * whose host key is pinned. Every dynamic provider does its work through this, so a command
 * inside a container is a prefix of the argv (`docker exec -i router nginx -t`), never a
 * second code path.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as net from "node:net";
import { constants as osConstants } from "node:os";
import { Client, type ClientChannel, type ServerHostKeyAlgorithm, utils as sshUtils } from "ssh2";
import { shellCommand, type Target } from "../target";
import { hostKeyLine, type InputProblem, isPort, portReason, providerError } from "./inputs";

export type ExecutorSpec =
  | { kind: "local" }
  | {
      kind: "ssh";
      host: string;
      port: number;
      user: string;
      /** Pinned, `ssh-ed25519 AAAA...` form; any other key is refused. */
      hostKey: string;
      /** PEM/OpenSSH text (a secret). */
      privateKey: string;
    };

export interface RunOptions {
  stdin?: string | Buffer | NodeJS.ReadableStream;
  /** Receives stdout as it arrives (nothing is buffered); it is ended when the command's output ends. */
  stdout?: NodeJS.WritableStream;
  /** Kills the command after this long; the run then rejects with an error named "CommandTimedOut". */
  timeoutMs?: number;
}

export interface RunResult {
  exitCode: number;
  /** "" when stdout was streamed to `options.stdout`. */
  stdout: string;
  stderr: string;
}

/** A local address that reaches the remote one. */
export interface Forwarded {
  host: string;
  port: number;
  close(): Promise<void>;
}

export interface Executor {
  /** "local" or "ssh deploy@203.0.113.10:22"; never contains secrets. */
  readonly description: string;
  /** A non-zero exit is a result, not a throw. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Locally this is the same address. */
  forward(remoteHost: string, remotePort: number): Promise<Forwarded>;
  close(): Promise<void>;
}

/** Lines of stderr quoted in a failure message: enough to show the cause, short enough to read. */
const stderrTailLines = 20;

/**
 * What `runChecked` throws. A plain `Error`, not a subclass: closure serialization rebuilds a
 * class as a function that calls `Error` without `new`, so a serialized subclass would lose its
 * message (and stop being an `Error`) inside the dynamic provider host.
 */
export interface CommandFailed extends Error {
  name: "CommandFailed";
  argv: readonly string[];
  result: RunResult;
}

export function isCommandFailed(error: unknown): error is CommandFailed {
  return error instanceof Error && error.name === "CommandFailed";
}

function commandFailed(argv: readonly string[], result: RunResult, where: string): CommandFailed {
  const message = `${argv[0]} exited with ${result.exitCode} on ${where}${stderrTail(result.stderr)}`;
  return providerError("CommandFailed", message, { argv, result });
}

/** What `run` rejects with when `timeoutMs` passed: an `Error` named "CommandTimedOut". */
function commandTimedOut(argv: readonly string[], timeoutMs: number, where: string, stderr: string): Error {
  const message = `${argv[0]} did not finish within ${timeoutMs} ms on ${where} and was killed${stderrTail(stderr)}`;
  return providerError("CommandTimedOut", message);
}

function stderrTail(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  if (lines.length === 1 && lines[0] === "") return "";
  return `:\n${lines.slice(-stderrTailLines).join("\n")}`;
}

/** The executor for a stack's target; a local docker socket means commands run here. */
export function executorSpecFor(target: Target, privateKey?: string): ExecutorSpec {
  if (target.kind === "local") {
    if (!target.dockerHost.startsWith("unix://"))
      throw new Error(
        `target host ${target.dockerHost}: commands run locally only for a unix:// docker socket`,
      );
    return { kind: "local" };
  }
  if (!privateKey)
    throw new Error(`target ssh://${target.user}@${target.host}:${target.port} needs sshPrivateKey`);
  return {
    kind: "ssh",
    host: target.host,
    port: target.port,
    user: target.user,
    hostKey: target.hostKey,
    privateKey,
  };
}

/** The target an executor reaches, for state and messages: `local`, or `ssh user@host:port`. */
export function executorTarget(executor: ExecutorSpec): string {
  return executor.kind === "local" ? "local" : `ssh ${executor.user}@${executor.host}:${executor.port}`;
}

/** What is wrong with an `executor` input, for a provider's `check`; never quotes the private key. */
export function executorSpecProblems(spec: unknown): InputProblem[] {
  const bad = (reason: string) => [{ property: "executor", reason }];
  if (!spec || typeof spec !== "object") return bad('expected { kind: "local" } or { kind: "ssh", ... }');
  const { kind, host, port, user, hostKey, privateKey } = spec as Record<string, unknown>;
  if (kind === "local") return [];
  if (kind !== "ssh") return bad(`expected kind "local" or "ssh", got ${JSON.stringify(kind)}`);
  if (typeof host !== "string" || host === "") return bad("ssh needs a host");
  if (!isPort(port)) return bad(`ssh needs a port: ${portReason(port)}`);
  if (typeof user !== "string" || user === "") return bad("ssh needs a user");
  if (typeof hostKey !== "string" || !hostKeyLine.test(hostKey))
    return bad("ssh needs a pinned hostKey like `ssh-ed25519 AAAA...`");
  if (typeof privateKey !== "string" || privateKey.trim() === "") return bad("ssh needs a privateKey");
  return [];
}

export function openExecutor(spec: ExecutorSpec): Promise<Executor> {
  return spec.kind === "local" ? Promise.resolve(localExecutor()) : openSshExecutor(spec);
}

/** Opens an executor for `work` and closes it afterwards, whatever `work` did. */
export async function withExecutor<T>(
  spec: ExecutorSpec,
  work: (executor: Executor) => Promise<T>,
): Promise<T> {
  const executor = await openExecutor(spec);
  try {
    return await work(executor);
  } finally {
    await executor.close();
  }
}

/** Like `executor.run`, but a non-zero exit throws `CommandFailed`. */
export async function runChecked(
  executor: Executor,
  argv: readonly string[],
  options?: RunOptions,
): Promise<RunResult> {
  const result = await executor.run(argv, options);
  if (result.exitCode !== 0) throw commandFailed(argv, result, executor.description);
  return result;
}

/** What a started command looks like to `collect`, whichever transport runs it. */
interface Started {
  stdin: NodeJS.WritableStream;
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  /** Resolves with the exit code once the command has exited and its output is drained. */
  exited: Promise<number>;
  kill(): void;
}

/** Feeds stdin, gathers or streams stdout, gathers stderr, enforces the timeout. */
async function collect(
  argv: readonly string[],
  where: string,
  started: Started,
  options: RunOptions,
): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  started.stderr.setEncoding("utf8");
  started.stderr.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const streamed = options.stdout
    ? pipeInto(started.stdout, options.stdout).catch((error: Error) => {
        started.kill();
        throw new Error(`output of ${argv[0]} on ${where} could not be written: ${error.message}`);
      })
    : Promise.resolve();
  if (!options.stdout) {
    started.stdout.setEncoding("utf8");
    started.stdout.on("data", (chunk: string) => {
      stdout += chunk;
    });
  }
  // A command that exits without reading its input must not fail the run with EPIPE.
  started.stdin.on("error", () => {});
  const input = options.stdin;
  if (input === undefined) started.stdin.end();
  else if (typeof input === "string" || Buffer.isBuffer(input)) started.stdin.end(input);
  else input.pipe(started.stdin);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (options.timeoutMs === undefined) return;
    const timeoutMs = options.timeoutMs;
    timer = setTimeout(() => {
      started.kill();
      reject(commandTimedOut(argv, timeoutMs, where, stderr));
    }, timeoutMs);
  });
  try {
    const [exitCode] = await Promise.race([Promise.all([started.exited, streamed]), timedOut]);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Pipes with backpressure and resolves once `destination` has flushed everything. */
function pipeInto(source: NodeJS.ReadableStream, destination: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    destination.once("finish", resolve);
    destination.once("error", (error: Error) => {
      source.unpipe(destination);
      reject(error);
    });
    source.pipe(destination);
  });
}

/** Shell convention, so a killed command reads the same locally and over SSH. */
function exitCodeOfSignal(signal: string): number {
  const number = (osConstants.signals as Record<string, number>)[
    signal.startsWith("SIG") ? signal : `SIG${signal}`
  ];
  return 128 + (number ?? 0);
}

function localExecutor(): Executor {
  return {
    description: "local",
    run: async (argv, options = {}) => {
      const [command, ...args] = argv;
      const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
      let missing = false;
      const exited = new Promise<number>((resolve, reject) => {
        child.once("error", (error: NodeJS.ErrnoException) => {
          // Like a shell: a missing program is exit 127, so both executors fail the same way.
          missing = error.code === "ENOENT";
          if (missing) resolve(127);
          else reject(error);
        });
        child.once("close", (code, signal) => resolve(code ?? exitCodeOfSignal(signal ?? "")));
      });
      const started = { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited };
      const outcome = await collect(
        argv,
        "local",
        { ...started, kill: () => child.kill("SIGKILL") },
        options,
      );
      return missing ? { ...outcome, stderr: `${outcome.stderr}${command}: command not found\n` } : outcome;
    },
    forward: (remoteHost, remotePort) =>
      Promise.resolve({ host: remoteHost, port: remotePort, close: async () => {} }),
    close: async () => {},
  };
}

/** `type base64` → the key blob; the blob names its own type, which must agree with the line. */
function parseHostKey(line: string, where: string): { type: string; blob: Buffer } {
  const match = /^(\S+) ([A-Za-z0-9+/]+={0,3})(?: .*)?$/.exec(line.trim());
  const blob = match ? Buffer.from(match[2], "base64") : Buffer.alloc(0);
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  if (!match || blob.subarray(4, 4 + typeLength).toString() !== match[1])
    throw new Error(
      `${where}: hostKey must be a public key line like \`ssh-ed25519 AAAA...\`, got ${JSON.stringify(line)}`,
    );
  return { type: match[1], blob };
}

function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Host key algorithms that make the server present a key of the pinned type. */
function hostKeyAlgorithms(type: string): ServerHostKeyAlgorithm[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type as ServerHostKeyAlgorithm];
}

async function openSshExecutor(spec: Extract<ExecutorSpec, { kind: "ssh" }>): Promise<Executor> {
  const description = `ssh ${spec.user}@${spec.host}:${spec.port}`;
  const pinned = parseHostKey(spec.hostKey, description);
  const key = sshUtils.parseKey(spec.privateKey);
  // The parser's message never quotes the key, so it is safe to pass on.
  if (key instanceof Error) throw new Error(`${description}: sshPrivateKey cannot be read: ${key.message}`);
  if (!key.isPrivateKey())
    throw new Error(`${description}: sshPrivateKey is a public key, expected a private key`);

  const client = new Client();
  let refusedHostKey: string | undefined;
  return new Promise<Executor>((resolve, reject) => {
    const failedToConnect = (error: Error) => {
      client.end();
      if (refusedHostKey) reject(new Error(refusedHostKey));
      else if ((error as { level?: string }).level === "client-authentication")
        reject(
          new Error(`${description}: the server refused the key for user ${spec.user} (${error.message})`),
        );
      else reject(new Error(`${description}: ${error.message}`));
    };
    client.once("error", failedToConnect);
    client.once("ready", () => {
      // Only a failure to connect ends the connection here. An error once connected must not end
      // it under the runs in flight (this listener did, when it was left in place): a connection
      // really lost closes their channels without an exit status, and their messages name it.
      client.removeListener("error", failedToConnect);
      const executor = sshExecutor(client, description);
      client.on("error", (error: Error) => executor.connectionErrors.push(error.message));
      resolve(executor);
    });
    client.connect({
      host: spec.host,
      port: spec.port,
      username: spec.user,
      privateKey: spec.privateKey,
      authHandler: ["publickey"],
      algorithms: { serverHostKey: hostKeyAlgorithms(pinned.type) },
      readyTimeout: 20_000,
      hostVerifier: (presented: Buffer) => {
        if (presented.equals(pinned.blob)) return true;
        const presentedType = presented.subarray(4, 4 + presented.readUInt32BE(0)).toString();
        refusedHostKey =
          `${description}: host key mismatch, refusing to connect. ` +
          `Pinned ${pinned.type} ${fingerprint(pinned.blob)}, ` +
          `server presented ${presentedType} ${fingerprint(presented)}. ` +
          "If the server's key really changed, update the pinned hostKey.";
        return false;
      },
    });
  });
}

/**
 * The remote command, bounded by `timeout` on the server when the run has a deadline. Killing
 * from here is not enough: ssh2 sends no signal request once stdin reached EOF (always, here),
 * sshd refuses them for root sessions anyway, and closing the channel leaves the command
 * running. The remote deadline is a little later than ours, so the run reports the timeout.
 */
function remoteArgv(argv: readonly string[], timeoutMs: number | undefined): readonly string[] {
  if (timeoutMs === undefined) return argv;
  return ["timeout", "-s", "KILL", String(Math.ceil(timeoutMs / 1000) + 1), ...argv];
}

function sshExecutor(client: Client, description: string): Executor & { connectionErrors: string[] } {
  const forwards = new Set<Forwarded>();
  const connectionErrors: string[] = [];
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  const startedOnChannel = (channel: ClientChannel, program: string): Started => {
    let exitCode: number | undefined;
    channel.once("exit", (code: number | null, signal?: string) => {
      exitCode = code ?? exitCodeOfSignal(signal ?? "");
    });
    const exited = new Promise<number>((resolve, reject) =>
      channel.once("close", () =>
        exitCode === undefined
          ? reject(
              new Error(
                `${description}: the connection ended before ${program} reported its exit` +
                  (connectionErrors.length > 0 ? ` (${connectionErrors.join("; ")})` : ""),
              ),
            )
          : resolve(exitCode),
      ),
    );
    return { stdin: channel, stdout: channel, stderr: channel.stderr, exited, kill: () => channel.close() };
  };
  return {
    description,
    connectionErrors,
    run: (argv, options = {}) =>
      new Promise<Started>((resolve, reject) =>
        // ssh2 throws rather than calls back when the connection is already gone.
        client.exec(shellCommand(remoteArgv(argv, options.timeoutMs)), (error, channel) =>
          // Listening from this callback on, not a tick later: the exit status and the channel's
          // close can arrive in the same read as the exec's reply, and are emitted during it.
          error ? reject(error) : resolve(startedOnChannel(channel, argv[0])),
        ),
      ).then(
        (started) => collect(argv, description, started, options),
        (error: Error) =>
          Promise.reject(new Error(`${description}: cannot run ${argv[0]}: ${error.message}`)),
      ),
    forward: (remoteHost, remotePort) => {
      const sockets = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        const open = (error: Error | undefined, stream?: ClientChannel) => {
          if (error || !stream) {
            socket.destroy();
            return;
          }
          socket.once("close", () => stream.close());
          stream.once("close", () => socket.destroy());
          socket.pipe(stream).pipe(socket);
        };
        try {
          client.forwardOut(
            socket.remoteAddress ?? "127.0.0.1",
            socket.remotePort ?? 0,
            remoteHost,
            remotePort,
            open,
          );
        } catch (error) {
          // ssh2 throws rather than calls back once the connection is gone (cut, or the server
          // ended it): the check through this socket then fails at once instead of waiting out
          // its timeout, and nothing is thrown into the provider host.
          open(error as Error);
        }
      });
      return new Promise<Forwarded>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
          const address = server.address() as net.AddressInfo;
          const forwarded: Forwarded = {
            host: address.address,
            port: address.port,
            close: () =>
              new Promise<void>((done) => {
                forwards.delete(forwarded);
                for (const socket of sockets) socket.destroy();
                server.close(() => done());
              }),
          };
          forwards.add(forwarded);
          resolve(forwarded);
        });
      });
    },
    close: async () => {
      await Promise.all([...forwards].map((forwarded) => forwarded.close()));
      client.end();
      await closed;
    },
  };
}
