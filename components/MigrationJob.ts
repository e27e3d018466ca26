import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Target } from "./target";
import { targetCommand } from "./targetCommand";

export interface MigrationJobArgs {
  target: Target;
  /** The deploy user's private key, for ssh targets. */
  sshPrivateKey?: pulumi.Input<string>;
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
        argv: pulumi.all([args.image, args.network]).apply(([image, network]) => [
          "docker",
          "run",
          "--rm",
          "--name",
          name,
          "--network",
          network,
          // The connection string arrives on stdin, so it is never on a command line.
          "--env-file",
          "/dev/stdin",
          image,
          ...args.command,
        ]),
        stdin: pulumi.secret(pulumi.interpolate`DATABASE_URL=${args.databaseUrl}\n`),
        triggers: [args.version, args.image],
      },
      { parent: this, dependsOn: args.after },
    );

    this.registerOutputs({ version: args.version });
  }
}
