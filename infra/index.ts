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

export const environment = config.environment;
export const activeSlot = config.activeSlot;
export const slots = Object.fromEntries(
  slotColours.map((colour) => {
    const { image, build, version } = config.slots[colour];
    return [
      colour,
      { image: image ?? `built from ${build}`, version, container: deployment.slots[colour].containerName },
    ];
  }),
);
export const routerUrl = deployment.router.url;
export const databaseName = config.database.name;
export const snapshotDirectory = config.snapshots.directory;
export const migrationSet = config.migrations?.version;
export const githubEnvironment = pipeline?.environment.environment;
/** The dump taken before the current migration set ran; restore it with `npm run snapshot -- restore`. */
export const lastSnapshot = deployment.snapshot?.path;
export const frontendUrl = deployment.frontend?.url;
