/**
 * The wait for one Netlify deploy: its state, polled every `pollIntervalMs` on the shared loop
 * (poll.ts), until it is ready, ends in an error, or the deadline passes (then it is cancelled).
 */
import { redact } from "./inputs";
import { type NetlifyClient, netlifyError } from "./netlifyApi";
import type { NetlifyDeployInputs } from "./netlifyInputs";
import { type PollVerdict, pollUntil } from "./poll";

export interface DeployInfo {
  id?: string;
  state?: string;
  error_message?: string;
  url?: string;
  ssl_url?: string;
  deploy_url?: string;
  deploy_ssl_url?: string;
  commit_ref?: string;
  published_at?: string;
}

/** Follows one deploy until it is ready; fails on Netlify's error, or cancels it at the deadline. */
export async function waitUntilReady(
  client: NetlifyClient,
  inputs: NetlifyDeployInputs,
  deployId: string,
  report: (message: string) => void,
): Promise<DeployInfo> {
  let lastState = "";
  const attempt = async (): Promise<{ state: string; deploy?: DeployInfo }> => {
    try {
      const deploy = (await client.getDeploy({ deploy_id: deployId })) as DeployInfo;
      return { state: deploy.state ?? lastState, deploy };
    } catch (error) {
      const status = (error as { status?: number }).status;
      // A 4xx will not get better; a 5xx or a dropped connection may, until the deadline.
      if (status !== undefined && status < 500) throw netlifyError("getDeploy", error, inputs.token);
      report(`status check failed, retrying: ${netlifyError("getDeploy", error, inputs.token).message}`);
      return { state: lastState };
    }
  };
  // Every wait is the poll interval: Netlify counts requests.
  const timing = { intervalMs: inputs.pollIntervalMs, firstDelayMs: inputs.pollIntervalMs };
  const outcome = await pollUntil(
    timing,
    attempt,
    ({ attempt: { state, deploy }, startedAt, now }): PollVerdict<DeployInfo | "late"> => {
      if (deploy && state !== lastState) {
        report(`deploy ${deployId}: ${state} after ${Math.round((now - startedAt) / 1000)} s`);
        lastState = state;
      }
      if (deploy && state === "ready") return { done: deploy };
      if (deploy && (state === "error" || state === "rejected")) {
        const said = deploy.error_message ? `: ${deploy.error_message}` : "";
        throw new Error(
          redact(`Netlify deploy ${deployId} ended in ${state}${said}`, inputs.token, "[token]"),
        );
      }
      if (now - startedAt + inputs.pollIntervalMs > inputs.deadlineMs) return { done: "late" };
      return { waitAtMostMs: Infinity };
    },
  );
  if (outcome !== "late") return outcome;
  const cancelled = await client.cancelSiteDeploy({ deploy_id: deployId }).then(
    () => "cancelled it",
    (error: unknown) =>
      `could not cancel it (${netlifyError("cancelSiteDeploy", error, inputs.token).message})`,
  );
  throw new Error(
    `Netlify deploy ${deployId} was not ready within ${inputs.deadlineMs} ms (last state: ${lastState || "unknown"}); ${cancelled}`,
  );
}
