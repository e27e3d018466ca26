/**
 * Names and shapes of the resources the policies look at, and the graph questions they ask.
 * Types are matched by token so the pack needs none of the providers' SDKs.
 */
import type { PolicyResource } from "@pulumi/policy";
import { slotColourOfName } from "../infra/names";
import type { SlotColour } from "../infra/stackKeys";

export const types = {
  container: "docker:index/container:Container",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  volume: "docker:index/volume:Volume",
  network: "docker:index/network:Network",
  dockerProvider: "pulumi:providers:docker",
  localCommand: "command:local:Command",
  remoteCommand: "command:remote:Command",
  pgSnapshot: "pulumi-nodejs:dynamic/switchyard:PgSnapshot",
  healthGate: "pulumi-nodejs:dynamic/switchyard:HealthGate",
  systemdService: "pulumi-nodejs:dynamic/switchyard:SystemdService",
  nginxUpstream: "pulumi-nodejs:dynamic/switchyard:NginxUpstream",
  netlifyDeploy: "pulumi-nodejs:dynamic/switchyard:NetlifyDeploy",
  database: "switchyard:data:Database",
  cache: "switchyard:data:Cache",
  migrationJob: "switchyard:data:MigrationJob",
  appSlot: "switchyard:app:AppSlot",
  nativeSlot: "switchyard:app:NativeSlot",
  accessory: "switchyard:accessory:Accessory",
  router: "switchyard:router:Router",
  repositoryEnvironment: "github:index/repositoryEnvironment:RepositoryEnvironment",
  environmentBranchPolicy:
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
  actionsVariable: "github:index/actionsVariable:ActionsVariable",
  actionsEnvironmentVariable: "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
} as const;

export const commandTypes: readonly string[] = [types.localCommand, types.remoteCommand];

/** A router switch's `files` or `secretFiles`, name to content; what is not text is left out. */
export function routerFiles(
  props: Record<string, unknown>,
  key: "files" | "secretFiles",
): Record<string, string> {
  const files = props[key] && typeof props[key] === "object" ? (props[key] as Record<string, unknown>) : {};
  return Object.fromEntries(
    Object.entries(files).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
  );
}

/** The nginx site the router switch applies (`files["site.conf"]`, see nginxConfig.ts). */
export function routerSite(props: Record<string, unknown>): string {
  return routerFiles(props, "files")["site.conf"] ?? "";
}

/** A RemoteImage with a `build` block is built on the machine running Pulumi, not pulled. */
export function isBuiltImage(resource: { type: string; props: Record<string, unknown> }): boolean {
  return resource.type === types.remoteImage && resource.props.build !== undefined;
}

/**
 * The type of each component a resource sits in, outermost first, from its URN
 * (`urn:pulumi:<stack>::<project>::<parent type>$...$<type>::<name>`).
 */
export function ancestorTypes(urn: string): string[] {
  return urn.split("::")[2].split("$").slice(0, -1);
}

export function isUnder(urn: string, componentType: string): boolean {
  return ancestorTypes(urn).includes(componentType);
}

/** The nearest component of `componentType` that holds `resource`. */
export function ancestorOfType(resource: PolicyResource, componentType: string): PolicyResource | undefined {
  for (let current = resource.parent; current; current = current.parent) {
    if (current.type === componentType) return current;
  }
  return undefined;
}

/** The slot an AppSlot component (`<deployment>-app-blue`) stands for. */
export function slotColourOf(appSlot: PolicyResource): SlotColour | undefined {
  return slotColourOfName(appSlot.name);
}

/** Everything `resource` waits for: its dependencies and property dependencies, transitively. */
export function dependencyClosure(resource: PolicyResource): Set<PolicyResource> {
  const seen = new Set<PolicyResource>();
  const pending = [resource];
  while (pending.length > 0) {
    const current = pending.pop() as PolicyResource;
    for (const dependency of [
      ...current.dependencies,
      ...Object.values(current.propertyDependencies).flat(),
    ]) {
      if (!seen.has(dependency)) {
        seen.add(dependency);
        pending.push(dependency);
      }
    }
  }
  return seen;
}

export function waitsFor(later: PolicyResource, earlier: PolicyResource): boolean {
  return dependencyClosure(later).has(earlier);
}

const loopbackAddresses = new Set(["127.0.0.1", "::1", "localhost"]);

export interface PublishedPort {
  internal: number;
  external?: number;
  /** Docker binds every address when none is given. */
  ip?: string;
}

export function publishedPorts(container: Record<string, unknown>): PublishedPort[] {
  return Array.isArray(container.ports) ? (container.ports as PublishedPort[]) : [];
}

export function isLoopbackOnly(port: PublishedPort): boolean {
  return port.ip !== undefined && loopbackAddresses.has(port.ip);
}

export function describePort(port: PublishedPort): string {
  return `${port.ip ?? "0.0.0.0"}:${port.external ?? port.internal}->${port.internal}`;
}

/** `NAME=value` entries of a container's env list. */
export function envMap(container: Record<string, unknown>): Record<string, string> {
  const entries = Array.isArray(container.envs) ? (container.envs as string[]) : [];
  return Object.fromEntries(
    entries.map((entry) => {
      const at = entry.indexOf("=");
      return at < 0 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}
