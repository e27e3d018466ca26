import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ParsedStackConfig } from "../infra/config";
import {
  containerImage,
  awaitedHealthcheck,
  containerLimits,
  dataVolume,
  type NamedContainer,
} from "./containers";

/** One accessory as the stack config declares it (`accessories.<name>`). */
export type AccessorySpec = ParsedStackConfig["accessories"][string];

export interface AccessoryArgs extends NamedContainer {
  /** Its name in the stack config: its host name on its network, which the slots reach it by. */
  hostName: string;
  spec: AccessorySpec;
  /** `accessorySecrets.<name>`, when the stack sets any. */
  secretEnv?: pulumi.Output<Record<string, string>>;
  /** The network it joins (the deployment's private or edge network, as `spec.network` says). */
  network: pulumi.Input<string>;
  /** Docker's name of each volume in `spec.volumes`, by its short name. */
  volumeNames: Record<string, string>;
  /** Keep its volumes for good (outside development): see `dataVolume`. */
  keepVolumes: boolean;
}

/**
 * A long-running service beside the app (Kamal's accessories): object storage, metrics, a search
 * engine. Nothing of a release reaches its inputs, so a release never restarts it; with a
 * healthcheck, its creation waits until Docker reports it healthy.
 */
export class Accessory extends pulumi.ComponentResource {
  readonly container: docker.Container;
  readonly volumes: docker.Volume[];

  constructor(name: string, args: AccessoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:accessory:Accessory", name, {}, opts);
    const child = { parent: this };
    const { spec } = args;

    this.volumes = createVolumes();
    this.container = createContainer(this.volumes);
    this.registerOutputs({ containerName: args.containerName, hostName: args.hostName });

    function createVolumes(): docker.Volume[] {
      return Object.keys(spec.volumes).map((volume) =>
        dataVolume(`${name}-${volume}`, args.volumeNames[volume], args.keepVolumes, child),
      );
    }

    function createContainer(volumes: docker.Volume[]): docker.Container {
      return new docker.Container(
        name,
        {
          name: args.containerName,
          image: containerImage(`${name}-image`, { image: spec.image }, child),
          command: spec.command,
          envs: environment(spec.env, args.secretEnv),
          user: spec.user,
          networksAdvanced: [{ name: args.network, aliases: [args.hostName] }],
          ports: spec.ports.map((port) => ({
            internal: port.container,
            external: port.loopback,
            ip: "127.0.0.1",
          })),
          volumes: Object.values(spec.volumes).map((containerPath, index) => ({
            volumeName: volumes[index].name,
            containerPath,
          })),
          ...awaitedHealthcheck(spec.healthcheck),
          ...containerLimits(spec.resources),
          restart: spec.restart,
        },
        // Its name is fixed (`docker logs minio`), so the old container goes first.
        { ...child, deleteBeforeReplace: true },
      );
    }
  }
}

/** `NAME=value` entries, a secret as a whole when any of them is. */
function environment(
  plain: Record<string, string>,
  secret: pulumi.Output<Record<string, string>> | undefined,
): pulumi.Input<string[]> {
  const entries = (env: Record<string, string>) =>
    Object.entries(env).map(([key, value]) => `${key}=${value}`);
  if (secret === undefined) return entries(plain);
  return pulumi.secret(secret.apply((values) => entries({ ...plain, ...values })));
}
