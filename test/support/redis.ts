import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Background, freePort } from "./process";

/** A throwaway password-protected, non-persistent redis-server on a loopback port. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly password: string;
  /** `redis://:password@host:port/0`, optionally with a different password. */
  url(password?: string): string;
  /** Kills the server and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "redis-server");
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

export async function startRedis(): Promise<RedisServer> {
  const binary = findRedisServer();
  if (!binary) throw new Error("redis-server not found on PATH; install Redis to run these tests");
  const host = "127.0.0.1";
  const port = await freePort();
  const password = crypto.randomBytes(24).toString("hex");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-redis-"));
  const configFile = path.join(dir, "redis.conf");
  // A config file rather than --requirepass keeps the password out of `ps`.
  fs.writeFileSync(
    configFile,
    [
      `bind ${host}`,
      `port ${port}`,
      `requirepass ${password}`,
      `dir ${dir}`,
      `save ""`,
      "appendonly no",
      "daemonize no",
      `logfile ""`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );

  const child = new Background(binary, [configFile], { cwd: dir });
  const cleanup = () => {
    if (child.running) child.child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  const stop = async () => {
    await child.stop("SIGTERM", 2000);
    process.removeListener("exit", cleanup);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await child.waitForOutput(/Ready to accept connections/);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    port,
    password,
    url: (pass = password) => `redis://:${encodeURIComponent(pass)}@${host}:${port}/0`,
    stop,
  };
}
