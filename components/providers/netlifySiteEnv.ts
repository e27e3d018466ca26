/**
 * The site's production variables: set for a deploy, and put back as they were when the deploy
 * fails, so the site's settings keep matching what it serves.
 */
import { call, type NetlifyClient, netlifyError } from "./netlifyApi";

/** Netlify's deploy context this provider manages variables for. */
const productionContext = "production";

interface EnvValue {
  id?: string;
  context?: string;
  value?: string;
}
interface EnvVar {
  key?: string;
  values?: EnvValue[];
}

/** How to put one variable back as it was before this deploy touched it. */
type Undo = () => Promise<unknown>;

/** Puts a production value back, re-creating the variable if removing its last value removed it. */
async function restoreValue(
  client: NetlifyClient,
  target: { account_id: string; site_id: string },
  key: string,
  value: string,
): Promise<unknown> {
  const body = { context: productionContext, value } as const;
  try {
    return await client.setEnvVarValue({ ...target, key, body });
  } catch (error) {
    if ((error as { status?: number }).status !== 404) throw error;
    return client.createEnvVars({ ...target, body: [{ key, values: [body] }] });
  }
}

/**
 * Makes the site's production variables equal `wanted`, and drops the production value of
 * each name in `dropped`. Writes only what differs, and puts how to undo each write at the
 * front of `undo` as soon as it is made, so a failure half-way can be undone too.
 */
async function applySiteEnv(
  client: NetlifyClient,
  token: string,
  target: { account_id: string; site_id: string },
  wanted: Record<string, string>,
  dropped: string[],
  undo: Undo[],
  report: (message: string) => void,
): Promise<void> {
  const current = (await call("getEnvVars", token, () => client.getEnvVars(target))) as EnvVar[];
  const byKey = new Map(current.map((variable) => [variable.key ?? "", variable]));
  const productionValue = (variable: EnvVar | undefined) =>
    variable?.values?.find((value) => value.context === productionContext);

  for (const [key, value] of Object.entries(wanted)) {
    const existing = byKey.get(key);
    const own = productionValue(existing);
    const shared = existing?.values?.find((v) => v.context === "all");
    if ((own ?? shared)?.value === value) continue;
    if (!existing) {
      report(`setting ${key} (new)`);
      await call("createEnvVars", token, () =>
        client.createEnvVars({ ...target, body: [{ key, values: [{ context: productionContext, value }] }] }),
      );
      undo.unshift(() => client.deleteEnvVar({ ...target, key }));
      continue;
    }
    report(`setting ${key}`);
    const written = (await call("setEnvVarValue", token, () =>
      client.setEnvVarValue({ ...target, key, body: { context: productionContext, value } }),
    )) as EnvVar;
    const previous = own?.value;
    const writtenId = productionValue(written)?.id;
    undo.unshift(() =>
      previous !== undefined
        ? restoreValue(client, target, key, previous)
        : client.deleteEnvVarValue({ ...target, key, id: writtenId ?? "" }),
    );
  }

  for (const key of dropped) {
    const own = productionValue(byKey.get(key));
    if (!own?.id) continue;
    report(`removing ${key}`);
    await call("deleteEnvVarValue", token, () =>
      client.deleteEnvVarValue({ ...target, key, id: own.id ?? "" }),
    );
    const previous = own.value ?? "";
    undo.unshift(() => restoreValue(client, target, key, previous));
  }
}

/**
 * Sets the site's production variables to `wanted` (dropping the production value of each name
 * in `dropped`), then runs `work`. If either fails after a variable changed, every change is
 * put back, and the error says whether that worked.
 */
export async function withSiteEnv<T>(
  client: NetlifyClient,
  token: string,
  target: { account_id: string; site_id: string },
  change: { wanted: Record<string, string>; dropped: string[] },
  report: (message: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  const undo: Undo[] = [];
  try {
    await applySiteEnv(client, token, target, change.wanted, change.dropped, undo, report);
    return await work();
  } catch (error) {
    if (undo.length === 0) throw error;
    report(`putting ${undo.length} variable change(s) back`);
    let restored = "the site's variables are back as they were";
    for (const step of undo) {
      try {
        await step();
      } catch (undoError) {
        restored = `putting the site's variables back failed too (${netlifyError("undo", undoError, token).message})`;
        break;
      }
    }
    throw new Error(`${(error as Error).message}; ${restored}`);
  }
}
