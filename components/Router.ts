import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { RouterKind, SlotColour } from "../infra/stackKeys";
import type { Slot } from "./slotRelease";
import { containerImage, memoryLimit, type NamedContainer } from "./containers";
import {
  acmeClientEnvironment,
  acmeClientFiles,
  acmeClientScript,
  type AcmeSettings,
  type SiteAcme,
} from "./providers/acmeClient";
import type { ExecutorSpec } from "./providers/executor";
import { gateSettings, type HealthSettings } from "./providers/healthGate";
import { caddyStart, containerCaddy, renderCaddyBoot, renderCaddyFiles } from "./providers/caddyConfig";
import {
  containerMainConfig,
  containerNginxMain,
  nginxStart,
  renderNginxMain,
  renderRouterFiles,
} from "./providers/nginxConfig";
import { RouterUpstream } from "./providers/RouterUpstream";
import { containerStateDir, type RouterServer } from "./providers/routerServer";
import {
  parseCanaryKey,
  renderMaintenancePage,
  renderTlsFiles,
  routerCommands,
  type RouterSite,
} from "./providers/routerState";
import { dockerCommand, type Target } from "./target";

export interface RouterArgs extends NamedContainer {
  target: Target;
  /** Where the switch runs its commands: `executorSpecFor(target, sshPrivateKey)` (holds the ssh key: a secret). */
  executor: pulumi.Input<ExecutorSpec>;
  /** What serves the router: nginx, or Caddy (which splits requests one by one, and gets its certificates itself). */
  kind: RouterKind;
  /** The server's image reference. */
  image: string;
  bindAddress: string;
  httpPort: number;
  httpsPort: number;
  /**
   * Host port, bound to 127.0.0.1 only, of the router's check listener: it serves the active
   * slot over plain HTTP whatever the TLS and canary settings, for the post-switch check.
   */
  checkPort: number;
  serverName: string;
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot. */
  canaryWeight: number;
  /** `cookie:<name>` or `header:<Name>`: whose value pins a user to one side of the canary. */
  canaryKey?: string;
  /** Values of `canaryKey` that always get the canary. */
  canaryAllowlist: string[];
  /** The maintenance page: while enabled, every public request gets it with a 503. */
  maintenance: { enabled: boolean; message: string; retryAfterSeconds: number };
  slots: Record<SlotColour, Slot>;
  /** Certificate chain and key (secrets); without them (or `acme`) the router serves plain HTTP. */
  tls?: { certificate: pulumi.Input<string>; key: pulumi.Input<string> };
  /** Certificates from an ACME CA, obtained and renewed by an ACME client container (nginx) or the server (Caddy); instead of `tls`. */
  acme?: AcmeSettings & { image: string; containerName: string };
  health: HealthSettings;
  /**
   * The HealthGate of every slot that gets traffic: the active slot's, and the idle slot's too
   * when `canaryWeight` is above 0. Traffic moves only once they passed.
   */
  after: pulumi.Input<pulumi.Resource>[];
  /** Docker volume holding the router's state directory, so a replaced container starts where the old one was. */
  stateVolume: string;
}

/** What the site knows of ACME: the account, and where its server finds the directory's certificate. */
function siteAcme(acme: NonNullable<RouterArgs["acme"]>, directoryCertificateFile: string): SiteAcme {
  const { image: _image, containerName: _containerName, directoryCertificate, ...account } = acme;
  return { ...account, ...(directoryCertificate === undefined ? {} : { directoryCertificateFile }) };
}

/** How one kind of server runs in the router container: what it starts with, and how a site becomes its files. */
interface Serving {
  server: RouterServer;
  /** Where the state volume is mounted. */
  stateDir: string;
  command: string[];
  /** The configuration the container starts with; it never changes. */
  upload: { file: string; content: string };
  healthcheck: string[];
  render(site: RouterSite): Record<string, string>;
  /**
   * Who asks an ACME CA for the certificate: a client container beside the router (nginx has no
   * ACME client), or the server itself (Caddy); and where the container the CA's directory is
   * reached from finds `directoryCertificate`.
   */
  acme: { sidecar: boolean; directoryCertificateFile: string };
}

function serving(kind: RouterKind): Serving {
  switch (kind) {
    case "nginx":
      return {
        server: {
          kind,
          command: ["nginx"],
          mainConfig: containerMainConfig,
          workerUser: containerNginxMain.user,
        },
        stateDir: containerStateDir(kind),
        command: routerCommands.startRouter(containerMainConfig, containerStateDir(kind), nginxStart),
        upload: { file: containerMainConfig, content: renderNginxMain(containerNginxMain) },
        healthcheck: ["CMD", "nginx", "-t", "-q"],
        render: (site) => renderRouterFiles(containerNginxMain, site),
        acme: { sidecar: true, directoryCertificateFile: acmeClientFiles.directoryCertificate },
      };
    case "caddy": {
      const { bootConfig, adminAddress } = containerCaddy;
      const stateDir = containerStateDir(kind);
      return {
        server: { kind, command: ["caddy"], bootConfig, adminAddress },
        stateDir,
        command: routerCommands.startRouter(bootConfig, stateDir, caddyStart),
        upload: { file: bootConfig, content: renderCaddyBoot(adminAddress) },
        // The admin socket is there while Caddy runs.
        healthcheck: ["CMD", "test", "-S", adminAddress.slice("unix/".length)],
        render: (site) => renderCaddyFiles(site, adminAddress),
        acme: { sidecar: false, directoryCertificateFile: containerCaddy.acmeDirectoryCertificate },
      };
    }
  }
}

/**
 * The router on the public ports: nginx or Caddy. Its container holds only the configuration it
 * starts with, which never changes; the site and the traffic pointer live in a volume and are
 * applied to the running server by the RouterUpstream switch, so neither a switch nor a new
 * certificate replaces the container (see providers/routerState.ts).
 *
 * It runs in the host's network and reaches each slot at the slot's fixed loopback port. That
 * address is the same whatever happens to the slot container, and the server resolves no name. On a
 * Docker network nginx would resolve `app-blue` once, when it loads its configuration: a
 * replaced slot may come back on another address (replacing both slots swapped them, and the
 * router served green under a blue pointer), and a stopped idle slot makes `nginx -t`, a reload
 * and a restart of the router fail. Fixed addresses on that network would fix the first but
 * not a slot that is down: connecting to an address nobody holds fails only after ARP gives up,
 * 3065 ms here, where a closed loopback port refuses in 2 ms — the difference between a fast
 * 502 (or a fallback to the other slot) and a request held for seconds. The price is Docker's
 * port proxy on the way: the demo app alone serves about 12,000 requests/s through it against
 * 32,000 on its container address (16 keep-alive connections, this project's 2-core machines),
 * but through the router the dev stack served 4,600-4,800 requests/s where it served
 * 4,800-5,300 on the Docker network (32 keep-alive connections, same machine and hour): nginx is
 * the limit. Being in the host's network, the router also sees each client's own address rather than
 * Docker's proxy.
 */
export class Router extends pulumi.ComponentResource {
  readonly containerName: string;
  readonly container: docker.Container;
  /** The switch: what the frontend waits for, since it holds only after the post-switch window. */
  readonly upstream: RouterUpstream;
  readonly url: string;
  /** When the live certificate expires (ISO 8601); without TLS, undefined. */
  readonly certificateExpiresAt: pulumi.Output<string | undefined>;

  constructor(name: string, args: RouterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:router:Router", name, {}, opts);
    const child = { parent: this };
    const { checkPort } = args;
    this.containerName = args.containerName;
    const serves = serving(args.kind);

    const volume = new docker.Volume(name, { name: args.stateVolume }, child);
    const { acme } = args;
    const acmeSite = acme && siteAcme(acme, serves.acme.directoryCertificateFile);
    // The server's own ACME client reads the directory's certificate in the router container.
    const serverAcmeUploads =
      acme?.directoryCertificate !== undefined && !serves.acme.sidecar
        ? [{ file: serves.acme.directoryCertificateFile, content: acme.directoryCertificate }]
        : [];
    this.container = new docker.Container(
      name,
      {
        name: this.containerName,
        image: containerImage(`${name}-image`, { image: args.image }, child),
        networkMode: "host",
        command: serves.command,
        volumes: [{ volumeName: volume.name, containerPath: serves.stateDir }],
        uploads: [serves.upload, ...serverAcmeUploads],
        healthcheck: { tests: serves.healthcheck, interval: "30s", timeout: "5s", retries: 3 },
        restart: "unless-stopped",
        ...memoryLimit(256),
      },
      { ...child, deleteBeforeReplace: true },
    );

    const files = pulumi.all([args.slots.blue.upstream, args.slots.green.upstream]).apply(([blue, green]) =>
      serves.render({
        upstreams: { blue, green },
        serverName: args.serverName,
        listen: { address: args.bindAddress, http: args.httpPort, https: args.httpsPort, check: checkPort },
        tls: args.tls !== undefined || args.acme !== undefined,
        ...(acmeSite ? { acme: acmeSite } : {}),
        stateDir: serves.stateDir,
        retryAfterSeconds: args.maintenance.retryAfterSeconds,
        canary: args.canaryKey
          ? { key: parseCanaryKey(args.canaryKey), allowlist: args.canaryAllowlist }
          : undefined,
      }),
    );
    const tls = args.tls;
    const secretFiles = tls
      ? pulumi
          .all([tls.certificate, tls.key])
          .apply(([certificate, key]) => renderTlsFiles({ certificate, key }))
      : {};

    const acmeClient = acme && serves.acme.sidecar ? createAcmeClient(acme) : undefined;
    const execInto = (container: string) => [...dockerCommand(args.target), "exec", "-i", container];
    const routerExec = execInto(this.containerName);

    /** The ACME client beside the router, on its state volume (see providers/acmeClient.ts). */
    function createAcmeClient(acme: NonNullable<RouterArgs["acme"]>): docker.Container {
      const { script, directoryCertificate } = acmeClientFiles;
      return new docker.Container(
        `${name}-acme`,
        {
          name: acme.containerName,
          image: containerImage(`${name}-acme-image`, { image: acme.image }, child),
          // It reaches the CA as the router does, from the host.
          networkMode: "host",
          entrypoints: ["/bin/sh"],
          command: [script, "renew-loop"],
          envs: acmeClientEnvironment(acme, serves.stateDir),
          volumes: [{ volumeName: volume.name, containerPath: serves.stateDir }],
          uploads: [
            { file: script, content: acmeClientScript },
            ...(acme.directoryCertificate === undefined
              ? []
              : [{ file: directoryCertificate, content: acme.directoryCertificate }]),
          ],
          restart: "unless-stopped",
          ...memoryLimit(64),
        },
        { ...child, deleteBeforeReplace: true },
      );
    }

    const { health } = args;
    const watch = gateSettings(health, health.postSwitchStableForSeconds);
    this.upstream = new RouterUpstream(
      `${name}-upstream`,
      {
        executor: args.executor,
        exec: routerExec,
        server: serves.server,
        stateDir: serves.stateDir,
        files,
        secretFiles,
        ...(acme && {
          acme: {
            exec: acmeClient ? execInto(acme.containerName) : routerExec,
            email: acme.email,
            directory: acme.directory,
            names: acme.names,
          },
        }),
        ...(args.maintenance.enabled
          ? { maintenancePage: renderMaintenancePage(args.maintenance.message) }
          : {}),
        activeSlot: args.activeSlot,
        canaryWeight: args.canaryWeight,
        checkHost: "127.0.0.1",
        checkPort,
        path: health.path,
        expectedVersion: args.slots[args.activeSlot].version,
        stableForMs: watch.stableForMs,
        intervalMs: watch.intervalMs,
        timeoutMs: watch.timeoutMs,
        allowDegraded: watch.allowDegraded,
        smokeChecks: watch.smokeChecks,
      },
      {
        ...child,
        // Traffic waits for the gates.
        dependsOn: [
          this.container,
          ...(acmeClient ? [acmeClient] : []),
          args.slots.blue.process,
          args.slots.green.process,
          ...args.after,
        ],
      },
    );

    const https = args.tls !== undefined || args.acme !== undefined;
    const scheme = https ? "https" : "http";
    const port = https ? args.httpsPort : args.httpPort;
    const defaultPort = https ? 443 : 80;
    const host = args.serverName === "_" ? "localhost" : args.serverName.split(" ")[0];
    this.url = `${scheme}://${host}${port === defaultPort ? "" : `:${port}`}`;
    this.certificateExpiresAt = this.upstream.certificateExpiresAt;
    this.registerOutputs({
      url: this.url,
      certificateExpiresAt: this.certificateExpiresAt,
      activeSlot: this.upstream.activeSlot,
      verifiedAt: this.upstream.verifiedAt,
    });
  }
}
