import * as pulumi from "@pulumi/pulumi";
import type { ParsedStackConfig } from "../infra/config";
import { NetlifyDeploy, type NetlifyEndpoint, netlifyApiEndpoint } from "./providers/NetlifyDeploy";

export type FrontendSettings = NonNullable<ParsedStackConfig["frontend"]>;

export interface FrontendArgs {
  /** The validated `frontend` section of the stack config. */
  settings: FrontendSettings;
  /** Netlify access token (`netlifyToken`); stays a secret. The config rules require it with `frontend`. */
  token: pulumi.Input<string> | undefined;
  /** This stack's public API URL (the router URL); the site gets it as `settings.apiUrlVariable`. */
  apiUrl: pulumi.Input<string>;
  /** The version of the backend serving traffic; a new one re-deploys the frontend. */
  backendVersion: pulumi.Input<string>;
  /** The stack's name, shown in the deploy's title on Netlify. */
  stack: string;
  /**
   * What must hold before the frontend goes out: the router switch and its post-switch
   * verification (the NginxUpstream resource, which holds the post-switch window). These are
   * resources, not values: the deploy waits until each is created or updated, and a failed one
   * stops it. An empty list deploys without waiting, which only the tests should want.
   */
  after: pulumi.Input<pulumi.Resource>[];
  /** Netlify's API; tests point it at a local server. */
  api?: NetlifyEndpoint;
}

/**
 * The frontend on Netlify, published after the backend it calls is live and stable: the site's
 * production variables for this stack (its API URL first), then a production build that must
 * reach `ready`.
 */
export class Frontend extends pulumi.ComponentResource {
  readonly deploy: NetlifyDeploy;
  /** The site's production URL. */
  readonly url: pulumi.Output<string>;
  readonly deployId: pulumi.Output<string>;

  constructor(name: string, args: FrontendArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:delivery:Frontend", name, {}, opts);
    const { settings } = args;
    if (args.token === undefined)
      throw new Error("the frontend section needs netlifyToken, which is not set");
    const revision = settings.revision ?? "";
    const title = pulumi
      .output(args.backendVersion)
      .apply(
        (version) =>
          `switchyard ${args.stack}: backend ${version}${revision ? `, frontend ${revision}` : ""}`,
      );
    this.deploy = new NetlifyDeploy(
      `${name}-deploy`,
      {
        siteId: settings.siteId,
        token: args.token,
        env: { ...settings.env, [settings.apiUrlVariable]: args.apiUrl },
        revision,
        backendVersion: args.backendVersion,
        title,
        clearCache: settings.clearCache,
        deadlineMs: Math.round(settings.deadlineSeconds * 1000),
        pollIntervalMs: Math.round(settings.pollIntervalSeconds * 1000),
        api: args.api ?? netlifyApiEndpoint,
      },
      { parent: this, dependsOn: args.after },
    );
    this.url = this.deploy.url;
    this.deployId = this.deploy.deployId;
    this.registerOutputs({ url: this.url, deployId: this.deployId });
  }
}
