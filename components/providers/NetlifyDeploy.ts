/**
 * NetlifyDeploy: publishes the frontend once the backend it calls is live. It sets the site's
 * production variables for this stack, starts a production build through Netlify's API
 * (`createSiteBuild`, which answers with the deploy it starts, so the wait follows that
 * deploy and no other) and waits until the deploy is `ready`. It re-deploys exactly when what
 * the build depends on changes: the site, the frontend revision, the backend version or the
 * variables. A failed or late deploy puts the site's variables back as they were, so the
 * site's settings keep matching what it serves.
 */
import type { NetlifyAPI } from "@netlify/api";
import * as pulumi from "@pulumi/pulumi";
import { type ArgsOf, canonical, checked, type InputProblem, redact } from "./inputs";

/** Where Netlify's API answers; tests point it at a local server. */
export interface NetlifyEndpoint {
  scheme: "https" | "http";
  /** Host, with `:port` when not the scheme's default. */
  host: string;
  pathPrefix: string;
}

export const netlifyApiEndpoint: NetlifyEndpoint = {
  scheme: "https",
  host: "api.netlify.com",
  pathPrefix: "/api/v1",
};

/** Inputs as the provider receives them: every value resolved, the token in plain text. */
export interface NetlifyDeployInputs {
  /** The site's id (a UUID). */
  siteId: string;
  /** Netlify personal access token; stored as a secret, never in outputs, messages or progress. */
  token: string;
  /** Site variables for the production context, set before the build. */
  env: Record<string, string>;
  /** The frontend revision this deploy is for; "" when not pinned. */
  revision: string;
  /** The backend version serving traffic when the frontend goes out. */
  backendVersion: string;
  /** Shown on the deploy in Netlify's UI. */
  title: string;
  clearCache: boolean;
  deadlineMs: number;
  pollIntervalMs: number;
  api: NetlifyEndpoint;
}

/** What the state keeps: what the next diff compares, and what was published. Never the token. */
export interface NetlifyDeployOutputs {
  siteId: string;
  env: Record<string, string>;
  revision: string;
  backendVersion: string;
  siteName: string;
  accountId: string;
  buildId: string;
  deployId: string;
  /** Always "ready": any other end fails the update. */
  state: string;
  /** The site's production URL. */
  url: string;
  /** The permanent URL of this very deploy. */
  deployUrl: string;
  /** The commit Netlify built; "" when it did not say. */
  commitRef: string;
  publishedAt: string;
}

/** A change to any of these re-deploys; the rest say how, not what. */
const triggerKeys = ["siteId", "revision", "backendVersion", "env"] as const;

/** Netlify's deploy context this provider manages variables for. */
const productionContext = "production";

const limits = { deadlineMs: 2 * 3600 * 1000, pollIntervalMs: 60 * 1000 };

export function netlifyInputProblems(news: NetlifyDeployInputs): InputProblem[] {
  const problems: InputProblem[] = [];
  const bad = (property: string, reason: string) => problems.push({ property, reason });
  if (typeof news.siteId !== "string" || !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(news.siteId))
    bad("siteId", `expected a Netlify site id (a UUID), got ${JSON.stringify(news.siteId)}`);
  // Never quoted: it is a secret.
  if (typeof news.token !== "string" || !/^\S+$/.test(news.token))
    bad("token", "expected a Netlify access token (set netlifyToken with --secret)");
  const env = news.env;
  if (!env || typeof env !== "object" || Array.isArray(env)) bad("env", "expected a map of names to strings");
  else {
    for (const [name, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        bad("env", `${JSON.stringify(name)} is not a variable name`);
      if (typeof value !== "string") bad("env", `${name} must be a string`);
    }
  }
  if (typeof news.revision !== "string") bad("revision", "expected a string (empty when not pinned)");
  if (typeof news.backendVersion !== "string" || news.backendVersion === "")
    bad("backendVersion", "expected the version of the backend serving traffic");
  if (typeof news.title !== "string" || news.title === "") bad("title", "expected a deploy title");
  if (typeof news.clearCache !== "boolean") bad("clearCache", "expected true or false");
  for (const key of ["deadlineMs", "pollIntervalMs"] as const) {
    const value = news[key];
    if (!Number.isInteger(value) || value <= 0 || value > limits[key])
      bad(key, `expected whole milliseconds between 1 and ${limits[key]}, got ${JSON.stringify(value)}`);
  }
  const api = news.api;
  if (
    !api ||
    (api.scheme !== "https" && api.scheme !== "http") ||
    typeof api.host !== "string" ||
    !/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(api.host) ||
    typeof api.pathPrefix !== "string" ||
    !/^(\/[^\s?#]*)?$/.test(api.pathPrefix)
  )
    bad("api", "expected { scheme: https|http, host: name[:port], pathPrefix: /path }");
  return problems;
}

/** The calls of @netlify/api's client this provider makes. */
export type NetlifyClient = Pick<
  NetlifyAPI,
  | "getSite"
  | "getEnvVars"
  | "createEnvVars"
  | "setEnvVarValue"
  | "deleteEnvVar"
  | "deleteEnvVarValue"
  | "createSiteBuild"
  | "getDeploy"
  | "cancelSiteDeploy"
>;

interface EnvValue {
  id?: string;
  context?: string;
  value?: string;
}
interface EnvVar {
  key?: string;
  values?: EnvValue[];
}

/** Netlify's error, in words: the operation, the status and Netlify's message; the token scrubbed. */
function netlifyError(operation: string, error: unknown, token: string): Error {
  const { status, json, data, code, message } = (error ?? {}) as {
    status?: number;
    json?: { message?: unknown };
    data?: unknown;
    code?: string;
    message?: string;
  };
  let text: string;
  if (status === undefined) {
    text = code ? `cannot reach Netlify's API: ${code}` : (message ?? String(error));
  } else {
    const said = typeof json?.message === "string" ? json.message : typeof data === "string" ? data : "";
    text = `${status} ${said || message || ""}`.trim();
    if (status === 401) text += ": Netlify refused the token; check netlifyToken";
  }
  // Only our words and Netlify's go out; never the client's error object, which carries the request.
  return new Error(`Netlify ${operation} failed: ${redact(text, token, "[token]")}`);
}

/** Calls one client method, turning its failure into a message that names the operation. */
async function call<T>(operation: string, token: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw netlifyError(operation, error, token);
  }
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

interface DeployInfo {
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
async function waitUntilReady(
  client: NetlifyClient,
  inputs: NetlifyDeployInputs,
  deployId: string,
  report: (message: string) => void,
): Promise<DeployInfo> {
  const started = Date.now();
  let lastState = "";
  for (;;) {
    let deploy: DeployInfo | undefined;
    try {
      deploy = (await client.getDeploy({ deploy_id: deployId })) as DeployInfo;
    } catch (error) {
      const status = (error as { status?: number }).status;
      // A 4xx will not get better; a 5xx or a dropped connection may, until the deadline.
      if (status !== undefined && status < 500) throw netlifyError("getDeploy", error, inputs.token);
      report(`status check failed, retrying: ${netlifyError("getDeploy", error, inputs.token).message}`);
    }
    const state = deploy?.state ?? lastState;
    if (deploy && state !== lastState) {
      report(`deploy ${deployId}: ${state} after ${Math.round((Date.now() - started) / 1000)} s`);
      lastState = state;
    }
    if (deploy && state === "ready") return deploy;
    if (deploy && (state === "error" || state === "rejected")) {
      const said = deploy.error_message ? `: ${deploy.error_message}` : "";
      throw new Error(redact(`Netlify deploy ${deployId} ended in ${state}${said}`, inputs.token, "[token]"));
    }
    if (Date.now() - started + inputs.pollIntervalMs > inputs.deadlineMs) {
      const cancelled = await client.cancelSiteDeploy({ deploy_id: deployId }).then(
        () => "cancelled it",
        (error: unknown) =>
          `could not cancel it (${netlifyError("cancelSiteDeploy", error, inputs.token).message})`,
      );
      throw new Error(
        `Netlify deploy ${deployId} was not ready within ${inputs.deadlineMs} ms (last state: ${lastState || "unknown"}); ${cancelled}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, inputs.pollIntervalMs));
  }
}

/**
 * Sets the site's variables, starts a production build and waits for its deploy to be ready.
 * `droppedEnv` are names an earlier deploy set and this one no longer wants. On failure the
 * variables are put back as they were, and the error says whether that worked.
 */
export async function publishFrontend(
  client: NetlifyClient,
  inputs: NetlifyDeployInputs,
  droppedEnv: string[],
  report: (message: string) => void,
): Promise<NetlifyDeployOutputs> {
  const { token } = inputs;
  const site = (await call("getSite", token, () => client.getSite({ site_id: inputs.siteId }))) as {
    name?: string;
    account_id?: string;
  };
  if (!site.account_id)
    throw new Error(`Netlify getSite answered without the account of site ${inputs.siteId}`);
  const target = { account_id: site.account_id, site_id: inputs.siteId };
  const siteName = site.name ?? inputs.siteId;
  const named = (message: string) => report(redact(`${siteName}: ${message}`, token, "[token]"));

  const undo: Undo[] = [];
  try {
    await applySiteEnv(client, token, target, inputs.env, droppedEnv, undo, named);
    const build = (await call("createSiteBuild", token, () =>
      client.createSiteBuild({ site_id: inputs.siteId, title: inputs.title, clear_cache: inputs.clearCache }),
    )) as { id?: string; deploy_id?: string };
    if (!build.deploy_id) throw new Error(`Netlify started build ${build.id ?? "?"} without a deploy id`);
    named(`build ${build.id ?? "?"} started deploy ${build.deploy_id}: ${inputs.title}`);
    const deploy = await waitUntilReady(client, inputs, build.deploy_id, named);
    return {
      siteId: inputs.siteId,
      env: inputs.env,
      revision: inputs.revision,
      backendVersion: inputs.backendVersion,
      siteName,
      accountId: site.account_id,
      buildId: build.id ?? "",
      deployId: build.deploy_id,
      state: "ready",
      url: deploy.ssl_url ?? deploy.url ?? "",
      deployUrl: deploy.deploy_ssl_url ?? deploy.deploy_url ?? "",
      commitRef: deploy.commit_ref ?? "",
      publishedAt: deploy.published_at ?? new Date().toISOString(),
    };
  } catch (error) {
    if (undo.length === 0) throw error;
    named(`putting ${undo.length} variable change(s) back`);
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

/** The client, built inside the provider's process (the provider is serialized without it). */
function clientFor(inputs: NetlifyDeployInputs): NetlifyClient {
  const { NetlifyAPI } = require("@netlify/api") as typeof import("@netlify/api");
  return new NetlifyAPI(inputs.token, { ...inputs.api, userAgent: "switchyard" });
}

async function runDeploy(inputs: NetlifyDeployInputs, droppedEnv: string[]): Promise<NetlifyDeployOutputs> {
  // The dynamic provider host has no engine connection for pulumi.log: progress goes to
  // stderr, which the engine collects from its plugins.
  return publishFrontend(clientFor(inputs), inputs, droppedEnv, (message) =>
    process.stderr.write(`netlify ${message}\n`),
  );
}

/**
 * Thin on purpose: check validates, diff re-deploys when a trigger changes (a different site is
 * a different resource), create and update deploy, delete leaves the site as it is: a
 * published frontend cannot be unpublished, and the next deploy of the site replaces it.
 */
export const netlifyDeployProvider: pulumi.dynamic.ResourceProvider<
  NetlifyDeployInputs,
  NetlifyDeployOutputs
> = {
  async check(_olds, news) {
    return checked(news, netlifyInputProblems(news));
  },

  async diff(_id, olds, news) {
    const changed = triggerKeys.filter((key) => canonical(olds[key]) !== canonical(news[key]));
    return {
      changes: changed.length > 0,
      replaces: changed.includes("siteId") ? ["siteId"] : [],
      deleteBeforeReplace: false,
    };
  },

  async create(inputs) {
    const outs = await runDeploy(inputs, []);
    return { id: outs.siteId, outs };
  },

  async update(_id, olds, news) {
    const dropped = Object.keys(olds.env ?? {}).filter((key) => !(key in news.env));
    return { outs: await runDeploy(news, dropped) };
  },

  async delete() {},
};

/** The resource's arguments: the provider's inputs, each one an Input. */
export type NetlifyDeployArgs = ArgsOf<NetlifyDeployInputs>;

/** Exists once the frontend built for this backend is live on Netlify. */
export class NetlifyDeploy extends pulumi.dynamic.Resource {
  declare readonly siteName: pulumi.Output<string>;
  declare readonly accountId: pulumi.Output<string>;
  declare readonly buildId: pulumi.Output<string>;
  declare readonly deployId: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  declare readonly url: pulumi.Output<string>;
  declare readonly deployUrl: pulumi.Output<string>;
  declare readonly commitRef: pulumi.Output<string>;
  declare readonly publishedAt: pulumi.Output<string>;

  constructor(name: string, args: NetlifyDeployArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      netlifyDeployProvider,
      name,
      {
        ...args,
        token: pulumi.secret(args.token),
        siteName: undefined,
        accountId: undefined,
        buildId: undefined,
        deployId: undefined,
        state: undefined,
        url: undefined,
        deployUrl: undefined,
        commitRef: undefined,
        publishedAt: undefined,
      },
      opts,
      "switchyard",
      "NetlifyDeploy",
    );
  }
}
