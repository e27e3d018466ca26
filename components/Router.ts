import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { SlotColour } from "../infra/config";
import type { AppSlot } from "./AppSlot";
import { containerImage, memoryLimit } from "./containers";
import type { ExecutorSpec } from "./providers/executor";
import type { SmokeCheck } from "./providers/healthGate";
import { NginxUpstream } from "./providers/NginxUpstream";
import {
  containerMainConfig,
  containerNginxMain,
  renderNginxMain,
  renderRouterFiles,
  renderTlsFiles,
} from "./providers/nginxConfig";
import type { Target } from "./target";

/** The post-switch check: the health contract's settings that apply through the router. */
export interface RouterHealth {
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  allowDegraded: boolean;
  smokeChecks: SmokeCheck[];
  /** How long the router must serve the new slot healthily after a switch; one failure switches back. */
  postSwitchStableForSeconds: number;
}

export interface RouterArgs {
  target: Target;
  /** Where the switch runs its commands: `executorSpecFor(target, sshPrivateKey)` (holds the ssh key: a secret). */
  executor: pulumi.Input<ExecutorSpec>;
  /** nginx image reference. */
  image: string;
  bindAddress: string;
  httpPort: number;
  httpsPort: number;
  /**
   * Host port, bound to 127.0.0.1 only, of the router's check listener: it serves the active
   * slot over plain HTTP whatever the TLS and canary settings, for the post-switch check.
   */
  checkPort?: number;
  serverName: string;
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot. */
  canaryWeight: number;
  slots: Record<SlotColour, AppSlot>;
  /** Certificate chain and key (secrets); without them the router serves plain HTTP. */
  tls?: { certificate: pulumi.Input<string>; key: pulumi.Input<string> };
  /** The edge network shared with the slots. */
  network: pulumi.Input<string>;
  health: RouterHealth;
  /**
   * The HealthGate of every slot that gets traffic: the active slot's, and the idle slot's too
   * when `canaryWeight` is above 0. Traffic moves only once they passed.
   */
  after: pulumi.Input<pulumi.Resource>[];
}

export const defaultCheckPort = 18080;
/** Where the check listener listens inside the container. */
const containerCheckPort = 8080;
/** Docker volume holding the router's state directory, so a replaced container starts where the old one was. */
const stateVolume = "switchyard-router-state";

/**
 * The nginx router on the public ports. Its container holds only the main configuration, which
 * never changes; the site and the traffic pointer live in a volume and are applied to the
 * running nginx by the NginxUpstream switch, so neither a switch nor a new certificate
 * replaces the container (see providers/nginxConfig.ts).
 */
export class Router extends pulumi.ComponentResource {
  readonly containerName = "router";
  readonly container: docker.Container;
  /** The switch: what the frontend waits for, since it holds only after the post-switch window. */
  readonly upstream: NginxUpstream;
  readonly url: string;

  constructor(name: string, args: RouterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:router:Router", name, {}, opts);
    const child = { parent: this };
    const checkPort = args.checkPort ?? defaultCheckPort;

    const ports = [
      { internal: 80, external: args.httpPort, ip: args.bindAddress },
      { internal: containerCheckPort, external: checkPort, ip: "127.0.0.1" },
    ];
    if (args.tls) ports.push({ internal: 443, external: args.httpsPort, ip: args.bindAddress });

    const volume = new docker.Volume(name, { name: stateVolume }, child);
    this.container = new docker.Container(
      name,
      {
        name: this.containerName,
        image: containerImage(`${name}-image`, { image: args.image }, "", child),
        ports,
        networksAdvanced: [{ name: args.network, aliases: [this.containerName] }],
        volumes: [{ volumeName: volume.name, containerPath: containerNginxMain.stateDir }],
        uploads: [{ file: containerMainConfig, content: renderNginxMain(containerNginxMain) }],
        healthcheck: { tests: ["CMD", "nginx", "-t", "-q"], interval: "30s", timeout: "5s", retries: 3 },
        restart: "unless-stopped",
        ...memoryLimit(256),
      },
      { ...child, deleteBeforeReplace: true },
    );

    const files = pulumi.all([args.slots.blue.upstream, args.slots.green.upstream]).apply(([blue, green]) =>
      renderRouterFiles(containerNginxMain, {
        upstreams: { blue, green },
        serverName: args.serverName,
        listen: { http: 80, https: 443, check: containerCheckPort },
        tls: args.tls !== undefined,
        stateDir: containerNginxMain.stateDir,
      }),
    );
    const tls = args.tls;
    const secretFiles = tls
      ? pulumi
          .all([tls.certificate, tls.key])
          .apply(([certificate, key]) => renderTlsFiles({ certificate, key }))
      : {};

    const dockerCli = args.target.kind === "local" ? ["docker", "-H", args.target.dockerHost] : ["docker"];
    const { health } = args;
    this.upstream = new NginxUpstream(
      `${name}-upstream`,
      {
        executor: args.executor,
        exec: [...dockerCli, "exec", "-i", this.containerName],
        nginx: ["nginx"],
        mainConfig: containerMainConfig,
        stateDir: containerNginxMain.stateDir,
        files,
        secretFiles,
        activeSlot: args.activeSlot,
        canaryWeight: args.canaryWeight,
        checkHost: "127.0.0.1",
        checkPort,
        path: health.path,
        expectedVersion: args.slots[args.activeSlot].version,
        stableForMs: health.postSwitchStableForSeconds * 1000,
        intervalMs: health.intervalSeconds * 1000,
        timeoutMs: health.timeoutSeconds * 1000,
        allowDegraded: health.allowDegraded,
        smokeChecks: health.smokeChecks,
      },
      {
        ...child,
        // Both upstreams must resolve when nginx loads the site, and traffic waits for the gates.
        dependsOn: [this.container, args.slots.blue.container, args.slots.green.container, ...args.after],
      },
    );

    const scheme = args.tls ? "https" : "http";
    const port = args.tls ? args.httpsPort : args.httpPort;
    const defaultPort = args.tls ? 443 : 80;
    const host = args.serverName === "_" ? "localhost" : args.serverName.split(" ")[0];
    this.url = `${scheme}://${host}${port === defaultPort ? "" : `:${port}`}`;
    this.registerOutputs({
      url: this.url,
      activeSlot: this.upstream.activeSlot,
      verifiedAt: this.upstream.verifiedAt,
    });
  }
}
