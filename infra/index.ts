/**
 * The switchyard program: validate the stack's config, then deploy it.
 * Nothing is registered when the config is invalid.
 */
import * as pulumi from "@pulumi/pulumi";
import { Deployment } from "../components/Deployment";
import { Pipeline } from "../components/Pipeline";
import { parseTarget } from "../components/target";
import { slotColours } from "./config";
import { loadStackConfig } from "./stackConfig";

const config = loadStackConfig();
const deployment = new Deployment("switchyard", { config });

// The GitHub side stands apart from the deployment: a repository setting never waits for a container.
const target = parseTarget(config.target);
const pipeline = config.github
  ? new Pipeline("pipeline", {
      settings: config.github,
      secrets: config.secrets,
      stack: `${pulumi.getOrganization()}/${pulumi.getProject()}/${config.stack}`,
      vpsHost: target.kind === "ssh" ? target.host : undefined,
    })
  : undefined;

/**
 * The stack outputs. Those a stack does not have (no GitHub side, no frontend, no migrations) are
 * left out rather than exported as undefined, which Pulumi warns about on every update.
 */
export = {
  environment: config.environment,
  activeSlot: config.activeSlot,
  slots: Object.fromEntries(
    slotColours.map((colour) => {
      const { image, build, version } = config.slots[colour];
      return [
        colour,
        { image: image ?? `built from ${build}`, version, container: deployment.slots[colour].containerName },
      ];
    }),
  ),
  routerUrl: deployment.router.url,
  databaseName: config.database.name,
  snapshotDirectory: config.snapshots.directory,
  ...(config.migrations ? { migrationSet: config.migrations.version } : {}),
  ...(pipeline ? { githubEnvironment: pipeline.environment.environment } : {}),
  /** The dump taken before the current migration set ran; restore it with `npm run snapshot -- restore`. */
  ...(deployment.snapshot ? { lastSnapshot: deployment.snapshot.path } : {}),
  ...(deployment.frontend ? { frontendUrl: deployment.frontend.url } : {}),
};
