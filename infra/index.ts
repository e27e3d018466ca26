/**
 * The switchyard program: validate the stack's config, then deploy it.
 * Nothing is registered when the config is invalid.
 */
import { Deployment } from "../components/Deployment";
import { slotColours } from "./config";
import { loadStackConfig } from "./stackConfig";

const config = loadStackConfig();
const deployment = new Deployment("switchyard", { config });

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
