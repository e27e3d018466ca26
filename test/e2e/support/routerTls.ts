/** The dev stack's nginx router as a certificate change sees it: its workers, its state, its answers under load. */
import assert from "node:assert/strict";
import { containerNginxMain } from "../../../components/providers/nginxConfig";
import { routerLayout } from "../../../components/providers/routerState";
import type { HttpsLoad } from "../../support/https";
import { runChecked } from "../../support/process";

/** Runs `script` in the router container. */
export async function inRouter(script: string): Promise<string> {
  return (await runChecked("docker", ["exec", "router", "sh", "-c", script])).stdout.trim();
}

/** The router's nginx workers: a reload replaces them. */
export function routerWorkers(): Promise<string> {
  return inRouter(
    `awk -v master="$(cat ${containerNginxMain.pidFile})" '$4 == master { print $1 }' /proc/[0-9]*/stat | sort`,
  );
}

/**
 * What new certificates under HTTPS keep-alive load must leave: every request answered, the
 * workers there were before (nginx never reloaded), and only the live certificate kept.
 */
export async function assertRotatedWithoutLoss(load: HttpsLoad, workersBefore: string): Promise<void> {
  assert.deepEqual(load.failures, []);
  assert.ok(load.answered > 100, `answered ${load.answered}`);
  assert.equal(await routerWorkers(), workersBefore, "the same workers: nginx never reloaded");
  assert.equal(
    await inRouter(`ls ${routerLayout(containerNginxMain.stateDir).certificates} | wc -l`),
    "1",
    "only the live certificate is kept",
  );
}
