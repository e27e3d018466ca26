/**
 * The Docker engine the stacks deploy to: one that answers is used as it is; otherwise Debian's
 * `docker.io` is installed if needed and `dockerd` started in the background, its pid recorded
 * so `npm run engine -- stop` stops it — and only it, never an engine somebody else started.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { aptInstall } from "./apt";
import type { EngineLayout } from "./layout";
import { capture, startDaemon, waitFor } from "./shell";
import type { StepContext, StepResult } from "./steps";

/** The Docker engine's version, or undefined when none answers `DOCKER_HOST` (default: the local socket). */
export async function dockerServerVersion(): Promise<string | undefined> {
  const result = await capture(["docker", "version", "--format", "{{.Server.Version}}"]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export function dockerdPidFile(layout: EngineLayout): string {
  return path.join(layout.run, "dockerd.pid");
}

export async function ensureDockerEngine(layout: EngineLayout, context: StepContext): Promise<StepResult> {
  const where = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  const running = await dockerServerVersion();
  if (running) return { outcome: "present", detail: `Docker Engine ${running} at ${where}, already running` };
  if (process.env.DOCKER_HOST) {
    throw new Error(
      `no Docker engine answers at DOCKER_HOST=${process.env.DOCKER_HOST}; start it, or unset DOCKER_HOST`,
    );
  }
  if (!fs.existsSync("/usr/sbin/dockerd")) {
    context.status("installing docker.io");
    await aptInstall(["docker.io"], context.log);
  }
  fs.mkdirSync(layout.run, { recursive: true });
  const daemonLog = path.join(layout.logs, "dockerd.daemon.log");
  startDaemon(["/usr/sbin/dockerd"], {
    log: daemonLog,
    pidFile: dockerdPidFile(layout),
  });
  context.status("waiting for /var/run/docker.sock");
  await waitFor(
    `dockerd (log: ${daemonLog})`,
    async () => (await dockerServerVersion()) !== undefined,
    60_000,
  );
  return {
    outcome: "started",
    detail: `Docker Engine ${await dockerServerVersion()} at ${where}, log ${daemonLog}`,
  };
}
