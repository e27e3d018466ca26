/**
 * What a deployment calls the things it creates on its host, with no dependency (the policy pack
 * reads it too).
 *
 * Several deployments share one host (Psychic Homily runs stage and production on one VPS) only
 * if no two of them name a container, network or volume alike, so a named deployment puts its
 * name before each of them. A deployment without a name keeps the names switchyard gave before
 * deployments had names: Docker cannot rename a container or a volume in place, so any other
 * default would replace every container (and orphan the data) of every existing stack.
 */
import { type SlotColour, slotColours } from "./stackKeys";

/** What each child of a deployment is; its Pulumi name is `<deployment>-<role>`. */
export const roles = {
  dockerProvider: "docker",
  targetReachable: "target-reachable",
  privateNetwork: "private",
  edgeNetwork: "edge",
  nativeNetwork: "native",
  database: "postgres",
  cache: "redis",
  migrationImage: "migrate-image",
  snapshot: "db-snapshot",
  migration: "migrate",
  slot: (colour: SlotColour) => `app-${colour}`,
  slotImage: (colour: SlotColour) => `app-${colour}-image`,
  router: "router",
  acmeClient: "router-acme",
  frontend: "frontend",
  accessory: (accessory: string) => `accessory-${accessory}`,
  accessoryImage: (accessory: string) => `accessory-${accessory}-image`,
  worker: (worker: string) => `worker-${worker}`,
} as const;

/** The deployment name that keeps the names of a host with one unnamed deployment. */
export const unnamedDeployment = "switchyard";

export const deploymentNamePattern = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
export const deploymentNameMaxLength = 32;
/**
 * An accessory's or a worker's name has no dash: `<deployment>-<accessory>` then never spells
 * another deployment's name (deployment `a`'s accessory `b-router` would be deployment `a-b`'s router).
 */
export const serviceNamePattern = /^[a-z][a-z0-9]{0,23}$/;

/** The default data volumes are `<deployment>-<suffix>`. */
const dataVolumeSuffixes = { database: "pgdata", cache: "redisdata" } as const;

/**
 * Names an accessory cannot take: its container is named like the deployment's own containers
 * (`<name>`, or `<deployment>-<name>`), and in a named deployment like its networks and volumes.
 */
export const reservedAccessoryNames: readonly string[] = [
  ...slotColours.map(roles.slot),
  roles.router,
  // Deployment `a-router`'s accessory `acme` would be deployment `a`'s ACME client.
  "acme",
  roles.database,
  roles.cache,
  roles.migration,
  roles.privateNetwork,
  roles.edgeNetwork,
  roles.nativeNetwork,
  ...Object.values(dataVolumeSuffixes),
  // Deployment `a-b`'s accessory `worker` would be deployment `a`'s worker `b`.
  "worker",
];

/** Docker's names for one deployment's containers, networks and volumes. */
export interface HostNames {
  slots: Record<SlotColour, string>;
  /** The systemd unit of each native slot, `<deployment>-<colour>`. */
  units: Record<SlotColour, string>;
  router: string;
  /** The router's ACME client. */
  acmeClient: string;
  database: string;
  cache: string;
  migration: string;
  privateNetwork: string;
  edgeNetwork: string;
  /** Where the data stores publish their loopback ports for native slots. */
  nativeNetwork: string;
  routerState: string;
  /** The data volumes when the stack names none. */
  databaseVolume: string;
  cacheVolume: string;
  /** The repository a locally built image of `role` is tagged in. */
  builtImage(role: string): string;
  /** The container of accessory `accessory`. */
  accessory(accessory: string): string;
  /** Volume `volume` of accessory `accessory`. */
  accessoryVolume(accessory: string, volume: string): string;
  /** The container of worker `worker`. */
  worker(worker: string): string;
}

/** The names of deployment `deployment` (`undefined`: the unnamed one). */
export function hostNames(deployment: string | undefined): HostNames {
  const own = (role: string) => (deployment === undefined ? role : `${deployment}-${role}`);
  const shared = (role: string) => `${deployment ?? unnamedDeployment}-${role}`;
  return {
    slots: { blue: own(roles.slot("blue")), green: own(roles.slot("green")) },
    units: { blue: shared("blue"), green: shared("green") },
    router: own(roles.router),
    acmeClient: own(roles.acmeClient),
    database: own(roles.database),
    cache: own(roles.cache),
    migration: own(roles.migration),
    privateNetwork: shared(roles.privateNetwork),
    edgeNetwork: shared(roles.edgeNetwork),
    nativeNetwork: shared(roles.nativeNetwork),
    routerState: shared("router-state"),
    databaseVolume: shared(dataVolumeSuffixes.database),
    cacheVolume: shared(dataVolumeSuffixes.cache),
    builtImage: (role) => `${unnamedDeployment}-${own(role)}`,
    accessory: own,
    // No other name has a dot, nor has a deployment's or an accessory's: the part before it names
    // one accessory of one deployment, and no other volume looks like it.
    accessoryVolume: (accessory, volume) => `${shared(accessory)}.${volume}`,
    worker: (worker) => own(`${worker}-worker`),
  };
}

/**
 * Docker options of the native network: a bridge that publishes ports but routes nothing out (no
 * masquerading), as private as the internal network for what the policy pack asks of data stores.
 */
export const noWayOutNetworkOptions = { "com.docker.network.bridge.enable_ip_masquerade": "false" };

/** Every name `hostNames` gives, for tests that two deployments never share one. */
export function allHostNames(names: HostNames): string[] {
  // Accessories' and workers' names depend on the stack: test/unit/names.test.ts adds them.
  // Units are systemd's names, not Docker's: no container, network or volume can take one.
  const {
    slots,
    units: _units,
    builtImage,
    accessory: _accessory,
    accessoryVolume: _accessoryVolume,
    worker: _worker,
    ...single
  } = names;
  return [
    ...Object.values(slots),
    ...Object.values(single),
    ...slotColours.map((colour) => builtImage(roles.slotImage(colour))),
    builtImage(roles.migrationImage),
  ];
}

/**
 * Whether the resource named `name` is the one of `role` in its deployment: `<deployment>-<role>`,
 * or `<role>` in a stack from before deployments had names. Policies, which see one resource at a
 * time, find resources this way.
 */
export function hasRole(name: string, role: string): boolean {
  return name === role || name.endsWith(`-${role}`);
}

/** The accessory whose image `name` is (`<deployment>-accessory-<accessory>-image`), if it is one. */
export function accessoryOfImage(name: string): string | undefined {
  return /(?:^|-)accessory-([a-z][a-z0-9]*)-image$/.exec(name)?.[1];
}

/** The slot an AppSlot component stands for, by its Pulumi name. */
export function slotColourOfName(name: string): SlotColour | undefined {
  return slotColours.find((colour) => hasRole(name, roles.slot(colour)));
}
