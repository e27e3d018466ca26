import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
  containerImage,
  containerLimits,
  dataVolume,
  type PrivateService,
  privateServiceNetworking,
} from "./containers";
import { dockerCommand } from "./target";
import { type TargetAccess, targetCommand } from "./targetCommand";

export interface DatabaseArgs extends TargetAccess, PrivateService {
  /** PostgreSQL image reference. */
  image: string;
  /** Database created at first start. */
  name: string;
  /** Owner role of that database. */
  user: string;
  /**
   * Named volume for the data directory; it outlives the container. Kept (`keepVolume`, which the
   * policy pack requires outside development), it also outlives the generated password (PostgreSQL applies
   * POSTGRES_PASSWORD only to an empty data directory), so the password is set on the role again
   * whenever it or the container changes.
   */
  volume: string;
}

/**
 * PostgreSQL in a container on the private network only, with a generated password and its
 * data on a named volume (kept for good outside development: see `keepVolume`).
 */
export class Database extends pulumi.ComponentResource {
  /** Host name of the database on the private network: its container's name. */
  readonly host: string;
  readonly port = 5432;
  readonly name: string;
  readonly user: string;
  readonly password: pulumi.Output<string>;
  /** `postgres://user:password@postgres:5432/name`, a secret. */
  readonly connectionUrl: pulumi.Output<string>;
  /** The same through the loopback port, for native slots; a secret. */
  readonly loopbackConnectionUrl?: pulumi.Output<string>;
  readonly container: docker.Container;
  readonly volume: docker.Volume;
  /** What must finish before anything connects: the container, and the password set on a kept volume. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:data:Database", name, {}, opts);
    const child = { parent: this };
    this.host = args.containerName;
    this.name = args.name;
    this.user = args.user;

    // URL-safe characters only: the password is embedded in DATABASE_URL.
    const password = new random.RandomPassword(`${name}-password`, { length: 32, special: false }, child);
    this.password = pulumi.secret(password.result);

    this.volume = dataVolume(name, args.volume, args.keepVolume, child);

    this.container = new docker.Container(
      name,
      {
        name: this.host,
        image: containerImage(`${name}-image`, { image: args.image }, child),
        envs: pulumi.secret(
          pulumi.interpolate`POSTGRES_PASSWORD=${password.result}`.apply((secret) => [
            `POSTGRES_DB=${args.name}`,
            `POSTGRES_USER=${args.user}`,
            secret,
          ]),
        ),
        volumes: [{ volumeName: this.volume.name, containerPath: "/var/lib/postgresql/data" }],
        ...privateServiceNetworking(args, this.host, this.port),
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

    this.ready = args.keepVolume
      ? targetCommand(
          `${name}-password`,
          {
            target: args.target,
            sshPrivateKey: args.sshPrivateKey,
            argv: [
              ...dockerCommand(args.target),
              "exec",
              "-i",
              this.host,
              ...setPasswordArgv(args.user, args.name),
            ],
            stdin: pulumi.secret(password.result.apply((secret) => setPasswordSql(args.user, secret))),
            triggers: [password.result, this.container.id],
          },
          { ...child, dependsOn: [this.container] },
        )
      : this.container;

    this.connectionUrl = pulumi.secret(
      pulumi.interpolate`postgres://${args.user}:${password.result}@${this.host}:${this.port}/${args.name}`,
    );
    if (args.loopback)
      this.loopbackConnectionUrl = pulumi.secret(
        pulumi.interpolate`postgres://${args.user}:${password.result}@127.0.0.1:${args.loopback.port}/${args.name}`,
      );
    this.registerOutputs({ host: this.host, name: this.name, connectionUrl: this.connectionUrl });
  }
}

/**
 * psql inside the database container, over its local socket (no password there), once the server
 * accepts connections: a container just created may still be starting.
 */
export function setPasswordArgv(user: string, database: string): string[] {
  const script =
    'for i in $(seq 1 60); do pg_isready -q -U "$1" -d "$2" && break; sleep 1; done; ' +
    'exec psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$2"';
  return ["sh", "-c", script, "sh", user, database];
}

/**
 * The statement that sets the role's password, for psql's standard input (never an argument).
 * The server logs no statement text, even for a failing one. The role is a validated PostgreSQL
 * identifier and the generated password holds letters and digits only.
 */
export function setPasswordSql(user: string, password: string): string {
  return [
    "SET log_min_error_statement = PANIC;",
    "SET log_statement = 'none';",
    `ALTER ROLE "${user}" WITH PASSWORD '${password}';`,
    "",
  ].join("\n");
}
