/**
 * The local registry images are pushed to, so stacks pin them by digest exactly as production
 * pins `ghcr.io/...@sha256:...`. Debian's `docker-registry` with our own configuration: loopback
 * only, no auth (the packaged one asks for htpasswd), storage in the cache (`~/.cache/switchyard/registry`). Docker
 * trusts a registry on 127.0.0.1 without TLS, so no daemon setting changes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { aptInstall } from "./apt";
import type { EngineLayout } from "./layout";
import { startDaemon, waitFor } from "./shell";
import type { StepContext, StepResult } from "./steps";

export const registryAddress = "127.0.0.1:5000";

const registryBinary = "/usr/bin/docker-registry";

export function renderRegistryConfig(storage: string, address = registryAddress): string {
  return [
    "version: 0.1",
    "log:",
    "  level: warn",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storage)}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${address}`,
    "",
  ].join("\n");
}

/** What the registry's API root answers: 200 for an open registry, 401 for one that wants a login. */
async function apiStatus(): Promise<number | undefined> {
  try {
    const response = await fetch(`http://${registryAddress}/v2/`, { signal: AbortSignal.timeout(2000) });
    return response.status;
  } catch {
    return undefined;
  }
}

export async function ensureRegistry(layout: EngineLayout, context: StepContext): Promise<StepResult> {
  const status = await apiStatus();
  if (status === 200)
    return { outcome: "present", detail: `registry at ${registryAddress}, already running` };
  if (status !== undefined) {
    throw new Error(
      `${registryAddress} answers HTTP ${status} to /v2/: another registry (with auth?) holds the port; stop it first`,
    );
  }
  if (!fs.existsSync(registryBinary)) {
    context.status("installing docker-registry");
    await aptInstall(["docker-registry"], context.log);
  }
  const storage = path.join(layout.cache.registry, "storage");
  const config = path.join(layout.cache.registry, "config.yml");
  fs.mkdirSync(storage, { recursive: true });
  fs.mkdirSync(layout.run, { recursive: true });
  fs.writeFileSync(config, renderRegistryConfig(storage));
  const daemonLog = path.join(layout.logs, "registry.daemon.log");
  startDaemon([registryBinary, "serve", config], { log: daemonLog, pidFile: registryPidFile(layout) });
  await waitFor(`docker-registry (log: ${daemonLog})`, async () => (await apiStatus()) === 200, 30_000);
  return { outcome: "started", detail: `registry at ${registryAddress}, storage ${storage}` };
}

export function registryPidFile(layout: EngineLayout): string {
  return path.join(layout.run, "registry.pid");
}
