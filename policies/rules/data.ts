/** The database and the cache reachable from the app only; the database's and the accessories' data kept. */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { noWayOutNetworkOptions } from "../../infra/names";
import { describePort, isLoopbackOnly, isUnder, publishedPorts, types } from "../resources";

function dataStoreContainers(resources: PolicyResource[]): PolicyResource[] {
  return resources.filter(
    (r) => r.type === types.container && (isUnder(r.urn, types.database) || isUnder(r.urn, types.cache)),
  );
}

interface NetworkAttachment {
  name: string;
}

export const dataStoresPrivate: StackValidationPolicy = {
  name: "data-stores-private",
  description: "PostgreSQL and Redis join only internal networks and publish no port on a public address.",
  validateStack: (args, reportViolation) => {
    const internalNetworks = new Set(
      args.resources
        .filter((r) => r.type === types.network && routesNothingOut(r.props))
        .map((r) => r.props.name),
    );
    for (const container of dataStoreContainers(args.resources)) {
      const publicPorts = publishedPorts(container.props).filter((port) => !isLoopbackOnly(port));
      if (publicPorts.length > 0) {
        reportViolation(
          `${container.name} publishes ${publicPorts.map(describePort).join(", ")} on a public address. ` +
            "Remove the port (the app reaches it over the private network) or bind it to 127.0.0.1 for an SSH tunnel.",
          container.urn,
        );
      }
      if (container.props.networkMode === "host") {
        reportViolation(
          `${container.name} uses the host's network, so it listens on every address of the machine. ` +
            "Attach it to the stack's internal network instead.",
          container.urn,
        );
      }
      const attachments = (container.props.networksAdvanced ?? []) as NetworkAttachment[];
      const open = attachments.map((a) => a.name).filter((name) => !internalNetworks.has(name));
      if (open.length > 0) {
        reportViolation(
          `${container.name} joins ${open.join(", ")}, which ${open.length > 1 ? "are" : "is"} not an internal network of this stack. ` +
            "Attach data stores only to the private network (a docker network with `internal: true`), and for native slots to the native network, which routes nothing out.",
          container.urn,
        );
      }
    }
  },
};

/** An internal network, or a bridge that publishes ports but masquerades nothing out (the native network). */
function routesNothingOut(network: Record<string, unknown>): boolean {
  if (network.internal === true) return true;
  const options = (network.options ?? {}) as Record<string, string>;
  return Object.entries(noWayOutNetworkOptions).every(([key, value]) => options[key] === value);
}

interface VolumeMount {
  volumeName?: string;
  hostPath?: string;
  containerPath?: string;
}

export const databaseVolumeProtected: StackValidationPolicy = {
  name: "database-volume-protected",
  description: "PostgreSQL keeps its data on a named volume that is protected from deletion.",
  validateStack: (args, reportViolation) => {
    const volumes = args.resources.filter((r) => r.type === types.volume);
    const databases = args.resources.filter(
      (r) => r.type === types.container && isUnder(r.urn, types.database),
    );
    for (const database of databases) {
      const named = ((database.props.volumes ?? []) as VolumeMount[]).filter((m) => m.volumeName);
      if (named.length === 0) {
        reportViolation(
          `${database.name} keeps its data inside the container, and containers are replaced on every image change. ` +
            "Mount a named docker volume at the PostgreSQL data directory (switchyard:database.volume).",
          database.urn,
        );
      }
      for (const mount of named) {
        const volume = volumes.find((v) => v.props.name === mount.volumeName);
        // A volume this stack does not manage is one it can never delete.
        if (volume && !volume.opts.protect) {
          reportViolation(
            `volume ${mount.volumeName} holds the PostgreSQL data but is not protected, so a destroy or a replacement may delete it. ` +
              "Register it with `protect: true`: a destroy or replacement then stops and asks (policies cannot see retainOnDelete).",
            volume.urn,
          );
        }
      }
    }
  },
};

export const accessoryVolumesProtected: ResourceValidationPolicy = {
  name: "accessory-volumes-protected",
  description: "An accessory's named volumes (object storage, metrics history) are protected from deletion.",
  validateResource: (args, reportViolation) => {
    if (args.type !== types.volume || !isUnder(args.urn, types.accessory)) return;
    if (!args.opts.protect)
      reportViolation(
        `volume ${args.props.name} holds an accessory's data but is not protected, so a destroy or a replacement may delete it. ` +
          "Register it with `protect: true` (switchyard does, outside development).",
      );
  },
};
