import type * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { SlotColour } from "../infra/config";
import type { AppSlot } from "./AppSlot";
import { containerImage } from "./containers";
import {
  containerNginxPaths,
  renderApplySiteScript,
  renderNginxMain,
  renderRouterSite,
} from "./providers/nginxConfig";
import type { Target } from "./target";
import { targetCommand } from "./targetCommand";

export interface RouterArgs {
  target: Target;
  /** The deploy user's private key, for ssh targets. */
  sshPrivateKey?: pulumi.Input<string>;
  /** nginx image reference. */
  image: string;
  bindAddress: string;
  httpPort: number;
  httpsPort: number;
  serverName: string;
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot. */
  canaryWeight: number;
  slots: Record<SlotColour, AppSlot>;
  /** Certificate chain and key (secrets); without them the router serves plain HTTP. */
  tls?: { certificate: pulumi.Input<string>; key: pulumi.Input<string> };
  /** The edge network shared with the slots. */
  network: pulumi.Input<string>;
  /** Resources that must hold before traffic moves (the gate of the slot it points at). */
  after: pulumi.Input<pulumi.Resource>[];
}

const tlsDir = "/etc/nginx/tls";
const sitePath = `${containerNginxPaths.siteDir}/site.conf`;

/**
 * Until the first site is applied the router answers 503 rather than guessing a slot. This file
 * never changes, so the container is never replaced because traffic moves.
 */
const bootstrapSite = "server {\n    listen 80 default_server;\n    return 503;\n}\n";

/**
 * The nginx router on the public ports. Its container holds only static files; the site (which
 * slot gets traffic, with what weight) is rendered by `renderRouterSite` and applied to the
 * running nginx by a separate step, so switching slots changes that step's inputs only.
 */
export class Router extends pulumi.ComponentResource {
  readonly containerName = "router";
  readonly container: docker.Container;
  /** The site nginx serves once applied. */
  readonly site: pulumi.Output<string>;
  readonly apply: command.local.Command;
  readonly url: string;

  constructor(name: string, args: RouterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:router:Router", name, {}, opts);
    const child = { parent: this };
    const tlsUploads = args.tls
      ? [
          {
            file: `${tlsDir}/fullchain.pem`,
            content: pulumi.secret(args.tls.certificate),
            permissions: "0644",
          },
          { file: `${tlsDir}/privkey.pem`, content: pulumi.secret(args.tls.key), permissions: "0600" },
        ]
      : [];

    const ports = [{ internal: 80, external: args.httpPort, ip: args.bindAddress }];
    if (args.tls) ports.push({ internal: 443, external: args.httpsPort, ip: args.bindAddress });

    this.container = new docker.Container(
      name,
      {
        name: this.containerName,
        image: containerImage(`${name}-image`, { image: args.image }, "", child),
        ports,
        networksAdvanced: [{ name: args.network, aliases: [this.containerName] }],
        uploads: [
          { file: "/etc/nginx/nginx.conf", content: renderNginxMain(containerNginxPaths) },
          { file: sitePath, content: bootstrapSite },
          ...tlsUploads,
        ],
        healthcheck: { tests: ["CMD", "nginx", "-t", "-q"], interval: "30s", timeout: "5s", retries: 3 },
        restart: "unless-stopped",
        memory: 256,
      },
      { ...child, deleteBeforeReplace: true },
    );

    this.site = pulumi.all([args.slots.blue.upstream, args.slots.green.upstream]).apply(([blue, green]) =>
      renderRouterSite({
        upstreams: { blue, green },
        activeSlot: args.activeSlot,
        canaryWeight: args.canaryWeight,
        serverName: args.serverName,
        listen: { http: 80, https: 443 },
        tls: args.tls
          ? { certificatePath: `${tlsDir}/fullchain.pem`, keyPath: `${tlsDir}/privkey.pem` }
          : undefined,
      }),
    );

    this.apply = targetCommand(
      `${name}-site`,
      {
        target: args.target,
        sshPrivateKey: args.sshPrivateKey,
        argv: ["docker", "exec", "-i", this.containerName, "sh", "-ec", renderApplySiteScript(sitePath)],
        stdin: this.site,
        // A new container starts from the bootstrap site, so it needs the site again.
        triggers: [this.site, this.container.id],
      },
      { ...child, dependsOn: [this.container, ...args.after] },
    );

    const scheme = args.tls ? "https" : "http";
    const port = args.tls ? args.httpsPort : args.httpPort;
    const defaultPort = args.tls ? 443 : 80;
    const host = args.serverName === "_" ? "localhost" : args.serverName.split(" ")[0];
    this.url = `${scheme}://${host}${port === defaultPort ? "" : `:${port}`}`;
    this.registerOutputs({ url: this.url, site: this.site });
  }
}
