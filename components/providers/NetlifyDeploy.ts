/**
 * NetlifyDeploy: publishes the frontend once the backend it calls is live. It sets the site's
 * production variables for this stack, starts a production build through Netlify's API
 * (`createSiteBuild`, which answers with the deploy it starts, so the wait follows that
 * deploy and no other) and waits until the deploy is `ready`. It re-deploys exactly when what
 * the build depends on changes: the site, the frontend revision, the backend version or the
 * variables. A failed or late deploy puts the site's variables back as they were, so the
 * site's settings keep matching what it serves.
 */
import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import { type ArgsOf, canonical, checked, redact } from "./inputs";
import { call, type NetlifyClient } from "./netlifyApi";
import { type NetlifyDeployInputs, netlifyInputProblems } from "./netlifyInputs";
import { withSiteEnv } from "./netlifySiteEnv";
import { waitUntilReady } from "./netlifyWatch";

export type { NetlifyClient } from "./netlifyApi";
export {
  type NetlifyDeployInputs,
  type NetlifyEndpoint,
  netlifyApiEndpoint,
  netlifyInputProblems,
} from "./netlifyInputs";

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

  const change = { wanted: inputs.env, dropped: droppedEnv };
  return withSiteEnv(client, token, target, change, named, async () => {
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
      accountId: target.account_id,
      buildId: build.id ?? "",
      deployId: build.deploy_id,
      state: "ready",
      url: deploy.ssl_url ?? deploy.url ?? "",
      deployUrl: deploy.deploy_ssl_url ?? deploy.deploy_url ?? "",
      commitRef: deploy.commit_ref ?? "",
      publishedAt: deploy.published_at ?? new Date().toISOString(),
    };
  });
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
export class NetlifyDeploy extends BundledResource {
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
      bundledProvider(__filename, { netlifyDeployProvider }),
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
