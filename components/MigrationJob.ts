import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NamedContainer } from "./containers";
import { dockerCommand } from "./target";
import { type TargetAccess, targetCommand } from "./targetCommand";

export interface MigrationJobArgs extends TargetAccess, NamedContainer {
  /** Image id (from `containerImage`) that holds the migrations. */
  image: pulumi.Input<string>;
  /** Command that applies them, run in that image. */
  command: string[];
  /** Identifies the migration set; the job runs again only when it or the image changes. */
  version: string;
  /** Private network where the database is reachable. */
  network: pulumi.Input<string>;
  /** DATABASE_URL for the job (secret). */
  databaseUrl: pulumi.Input<string>;
  /** Resources that must finish first: the database, and the snapshot of it. */
  after: pulumi.Input<pulumi.Resource>[];
}

/**
 * Runs the migration command once per migration set as a throwaway container on the target.
 * A non-zero exit fails the update, so nothing that depends on the job (the slots) changes.
 */
export class MigrationJob extends pulumi.ComponentResource {
  readonly run: command.local.Command;

  constructor(name: string, args: MigrationJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:data:MigrationJob", name, {}, opts);

    this.run = targetCommand(
      `${name}-run`,
      {
        target: args.target,
        sshPrivateKey: args.sshPrivateKey,
        argv: pulumi
          .all([args.image, args.network])
          .apply(([image, network]) =>
            migrationDockerArgv(dockerCommand(args.target), args.containerName, network, image, args.command),
          ),
        stdin: pulumi.secret(pulumi.output(args.databaseUrl).apply(migrationEnvFile)),
        triggers: [args.version, args.image],
      },
      { parent: this, dependsOn: args.after },
    );

    this.registerOutputs({ version: args.version });
  }
}

/**
 * `docker run` of the migration command in a throwaway container on the private network. The
 * environment comes from `--env-file /dev/stdin` (see `migrationEnvFile`), so the connection
 * string is never on a command line.
 */
export function migrationDockerArgv(
  docker: readonly string[],
  name: string,
  network: string,
  image: string,
  command: readonly string[],
): string[] {
  return [
    ...docker,
    "run",
    "--rm",
    "--name",
    name,
    "--network",
    network,
    "--env-file",
    "/dev/stdin",
    image,
    ...command,
  ];
}

/** The migration command's whole environment, in Docker's env-file format (one NAME=value per line). */
export function migrationEnvFile(databaseUrl: string): string {
  // The format has no quoting: a line break would end the value and start another variable.
  if (/[\r\n]/.test(databaseUrl)) throw new Error("the database URL contains a line break");
  return `DATABASE_URL=${databaseUrl}\n`;
}
