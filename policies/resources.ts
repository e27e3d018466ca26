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
  caddyUpstream: "pulumi-nodejs:dynamic/switchyard:CaddyUpstream",
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

/** The router switches: nginx's and Caddy's (components/providers/RouterUpstream.ts). */
export const routerUpstreamTypes: readonly string[] = [types.nginxUpstream, types.caddyUpstream];

/** What a router switch's site says, whatever serves it. */
export interface RouterSiteFacts {
  /** Addresses it listens on, `address:port`. */
  listeners: string[];
  /** Whether any listener serves TLS. */
  tls: boolean;
  /** Headers set on every response. */
  headers: string[];
}

/** Reads the site a router switch applies: nginx's `site.conf` (nginxConfig.ts) or Caddy's `caddy.json` (caddyConfig.ts). */
export function routerSiteFacts(resource: { type: string; props: Record<string, unknown> }): RouterSiteFacts {
  const files = routerFiles(resource.props, "files");
  if (resource.type === types.caddyUpstream) return caddySiteFacts(files["caddy.json"] ?? "{}");
  const site = files["site.conf"] ?? "";
  return {
    listeners: [...site.matchAll(/^\s*listen\s+([^\s;]+)/gm)].map((match) => match[1]),
    tls: /^\s*listen\s+\S+\s+ssl\b/m.test(site),
    headers: [...site.matchAll(/^\s*add_header\s+(\S+)/gm)].map((match) => match[1]),
  };
}

interface CaddyServerJson {
  listen?: string[];
  tls_connection_policies?: unknown[];
  routes?: {
    match?: unknown[];
    handle?: { handler?: string; response?: { set?: Record<string, unknown> } }[];
  }[];
}

function caddySiteFacts(text: string): RouterSiteFacts {
  let servers: Record<string, CaddyServerJson> = {};
  try {
    servers =
      (JSON.parse(text) as { apps?: { http?: { servers?: Record<string, CaddyServerJson> } } }).apps?.http
        ?.servers ?? {};
  } catch {
    // Not JSON: a site that says nothing, which the rules then report.
  }
  const all = Object.values(servers);
  const overTls = all.filter((server) => (server.tls_connection_policies ?? []).length > 0);
  const hsts = "Strict-Transport-Security";
  const everywhere = commonHeaders(all);
  return {
    listeners: all.flatMap((server) => server.listen ?? []),
    tls: overTls.length > 0,
    // On every response of every server; HSTS on every response over TLS, where it means something.
    headers:
      overTls.length > 0 && !everywhere.includes(hsts) && commonHeaders(overTls).includes(hsts)
        ? [...everywhere, hsts]
        : everywhere,
  };
}

/** The headers every response of every one of `servers` gets: those of a route that matches everything. */
function commonHeaders(servers: CaddyServerJson[]): string[] {
  const headers = servers.map((server) =>
    (server.routes ?? [])
      .filter((route) => route.match === undefined)
      .flatMap((route) => route.handle ?? [])
      .filter((handler) => handler.handler === "headers")
      .flatMap((handler) => Object.keys(handler.response?.set ?? {})),
  );
  return headers.length === 0
    ? []
    : headers.reduce((common, each) => common.filter((header) => each.includes(header)));
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
