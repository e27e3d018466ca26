import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { type ContainerResources, containerImage, containerLimits } from "./containers";

export interface DatabaseArgs {
  /** PostgreSQL image reference. */
  image: string;
  /** Database created at first start. */
  name: string;
  /** Owner role of that database. */
  user: string;
  /** Named volume for the data directory; it outlives the container. */
  volume: string;
  /**
   * Keep the volume for good: `protect` it, so no update or destroy can even plan its deletion (the
   * policy pack requires that outside development; the engine shows policies `protect`, not
   * `retainOnDelete`), and retain it if it is deleted anyway. Without it (a dev stack), the volume
   * goes with the stack: its generated password goes too, and PostgreSQL applies a password only
   * to an empty data directory, so a kept dev volume would lock the next `pulumi up` out.
   */
  keepVolume: boolean;
  resources: ContainerResources;
  /** Private network the database joins; it publishes no port. */
  network: pulumi.Input<string>;
}

/** The database container's name and host name; the snapshot command runs `docker exec` in it. */
export const databaseContainerName = "postgres";

/**
 * PostgreSQL in a container on the private network only, with a generated password and its
 * data on a named volume (kept for good outside development: see `keepVolume`).
 */
export class Database extends pulumi.ComponentResource {
  /** Host name of the database on the private network. */
  readonly host: string = databaseContainerName;
  readonly port = 5432;
  readonly name: string;
  readonly user: string;
  readonly password: pulumi.Output<string>;
  /** `postgres://user:password@postgres:5432/name`, a secret. */
  readonly connectionUrl: pulumi.Output<string>;
  readonly container: docker.Container;
  readonly volume: docker.Volume;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:data:Database", name, {}, opts);
    const child = { parent: this };
    this.name = args.name;
    this.user = args.user;

    // URL-safe characters only: the password is embedded in DATABASE_URL.
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, child);
    this.password = pulumi.secret(password.result);

    this.volume = new docker.Volume(
      name,
      { name: args.volume },
      { ...child, retainOnDelete: args.keepVolume, protect: args.keepVolume },
    );

    this.container = new docker.Container(
      name,
      {
        name: this.host,
        image: containerImage(`${name}-image`, { image: args.image }, "", child),
        envs: pulumi.secret(
          pulumi.interpolate`POSTGRES_PASSWORD=${password.result}`.apply((secret) => [
            `POSTGRES_DB=${args.name}`,
            `POSTGRES_USER=${args.user}`,
            secret,
          ]),
        ),
        volumes: [{ volumeName: this.volume.name, containerPath: "/var/lib/postgresql/data" }],
        networksAdvanced: [{ name: args.network, aliases: [this.host] }],
        healthcheck: {
          tests: ["CMD", "pg_isready", "-U", args.user, "-d", args.name],
          interval: "5s",
          timeout: "3s",
          retries: 10,
          startPeriod: "10s",
        },
        ...containerLimits(args.resources),
        restart: "unless-stopped",
        // PostgreSQL finishes its checkpoint on SIGTERM; give it time rather than SIGKILL.
        destroyGraceSeconds: 60,
        stopTimeout: 60,
      },
      { ...child, deleteBeforeReplace: true },
    );

    this.connectionUrl = pulumi.secret(
      pulumi.interpolate`postgres://${args.user}:${password.result}@${this.host}:${this.port}/${args.name}`,
    );
    this.registerOutputs({ host: this.host, name: this.name, connectionUrl: this.connectionUrl });
  }
}
