import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { containerImage, containerLimits, type PrivateService, privateServiceNetworking } from "./containers";

export interface CacheArgs extends PrivateService {
  /** Redis image reference. */
  image: string;
  /** Named volume for `/data` (append-only file); `null` keeps the cache in memory only. */
  volume: string | null;
}

/**
 * Redis on the private network only. The generated password reaches Redis through a config
 * file (never a command-line argument, which `ps` and `docker inspect` would show).
 */
export class Cache extends pulumi.ComponentResource {
  /** Host name of the cache on the private network: its container's name. */
  readonly host: string;
  readonly port = 6379;
  /** `redis://:password@redis:6379/0`, a secret. */
  readonly connectionUrl: pulumi.Output<string>;
  /** The same through the loopback port, for native slots; a secret. */
  readonly loopbackConnectionUrl?: pulumi.Output<string>;
  readonly container: docker.Container;
  readonly volume?: docker.Volume;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:data:Cache", name, {}, opts);
    const child = { parent: this };
    this.host = args.containerName;

    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, child);
    const configPath = "/usr/local/etc/redis/redis.conf";
    const redisConf = pulumi.secret(
      pulumi.interpolate`requirepass ${password.result}\nappendonly ${args.volume ? "yes" : "no"}\nsave ""\n`,
    );

    if (args.volume) {
      this.volume = new docker.Volume(
        name,
        { name: args.volume },
        { ...child, retainOnDelete: args.keepVolume },
      );
    }

    this.container = new docker.Container(
      name,
      {
        name: this.host,
        image: containerImage(`${name}-image`, { image: args.image }, child),
        command: ["redis-server", configPath],
        // Readable by the `redis` user the entrypoint switches to (an upload is owned by root). Nothing
        // else runs in the container, and the password is in its environment for redis-cli anyway.
        uploads: [{ file: configPath, content: redisConf, permissions: "0644" }],
        // redis-cli reads the password from REDISCLI_AUTH, which keeps it off the healthcheck's argv.
        envs: pulumi.secret(pulumi.interpolate`REDISCLI_AUTH=${password.result}`.apply((auth) => [auth])),
        volumes: this.volume ? [{ volumeName: this.volume.name, containerPath: "/data" }] : [],
        ...privateServiceNetworking(args, this.host, this.port),
        healthcheck: { tests: ["CMD", "redis-cli", "ping"], interval: "5s", timeout: "3s", retries: 10 },
        ...containerLimits(args.resources),
        restart: "unless-stopped",
      },
      { ...child, deleteBeforeReplace: true },
    );

    this.connectionUrl = pulumi.secret(
      pulumi.interpolate`redis://:${password.result}@${this.host}:${this.port}/0`,
    );
    if (args.loopback)
      this.loopbackConnectionUrl = pulumi.secret(
        pulumi.interpolate`redis://:${password.result}@127.0.0.1:${args.loopback.port}/0`,
      );
    this.registerOutputs({ host: this.host, connectionUrl: this.connectionUrl });
  }
}
