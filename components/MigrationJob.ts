import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ParsedStackConfig } from "../infra/config";
import type { NamedContainer } from "./containers";
import { dockerCommand, shellCommand, shellQuote } from "./target";
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
  /** Checks after the migration; one that fails fails the job (and the update) after it ran. */
  checks: pulumi.Input<MigrationCheck[]>;
  /** Where the checks' queries run: psql in this container, over its socket, as this user. */
  database: { containerName: string; user: string; name: string };
}

/** A validation of the migration: `query`'s value must be `expected` after it. */
export interface MigrationCheck {
  name: string;
  query: string;
  expected: string;
  /** Where `expected` comes from: the value read with the snapshot before the migration, or the config. */
  from: "before" | "config";
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
        argv: pulumi.all([args.image, args.network, args.checks]).apply(([image, network, checks]) => {
          const docker = dockerCommand(args.target);
          const migration = migrationDockerArgv(docker, args.containerName, network, image, args.command);
          if (checks.length === 0) return migration;
          const { containerName, user, name: database } = args.database;
          const psql = [
            ...docker,
            "exec",
            containerName,
            "psql",
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            user,
            "-d",
            database,
          ];
          return validatedMigrationArgv(migration, psql, checks, args.version);
        }),
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

/** A validation as the stack config holds it (`migrations.validations`): `expect` is `unchanged` or the exact value. */
export type MigrationValidation = NonNullable<ParsedStackConfig["migrations"]>["validations"][number];

/** The queries whose values the snapshot must read before the migration: those of `unchanged` validations. */
export function queriesBefore(validations: readonly MigrationValidation[]): string[] {
  return validations.filter((validation) => validation.expect === "unchanged").map((v) => v.query);
}

/** The checks, with the snapshot's `valuesBefore` (in the order of `queriesBefore`) standing for `unchanged`. */
export function migrationChecks(
  validations: readonly MigrationValidation[],
  valuesBefore: readonly string[],
): MigrationCheck[] {
  let before = 0;
  return validations.map(({ name, query, expect }) =>
    expect === "unchanged"
      ? { name, query, expected: valuesBefore[before++] ?? "", from: "before" }
      : { name, query, expected: expect, from: "config" },
  );
}

/**
 * The migration, then every check, each reported; the job fails if one fails, after the
 * migration ran. The checks' queries read nothing from standard input, which is the migration's.
 */
export function validatedMigrationArgv(
  migration: readonly string[],
  psql: readonly string[],
  checks: readonly MigrationCheck[],
  migrationSet: string,
): string[] {
  const say = (text: string) => `printf '%s\\n' ${shellQuote(text)} >&2`;
  const lines = [
    "set -u",
    `${shellCommand(migration)} || exit $?`,
    "failed=0",
    ...checks.flatMap((check) => {
      const what = `validation "${check.name}" after migration set ${migrationSet}`;
      const expected =
        check.from === "before" ? "(its value before the migration)" : "(the configured value)";
      return [
        `if ! actual=$(${shellCommand([...psql, "-c", check.query])} </dev/null); then`,
        `  ${say(`${what}: its query failed`)}; failed=1`,
        `elif [ "$actual" != ${shellQuote(check.expected)} ]; then`,
        `  printf '%s\\n' ${shellQuote(`${what} failed: expected ${check.expected} ${expected}, got `)}"$actual" >&2; failed=1`,
        "fi",
      ];
    }),
    `if [ "$failed" -ne 0 ]; then ${say("the migration ran; nothing that depends on it changed, so traffic stays where it is. Restore the snapshot taken before it (npm run snapshot -- restore latest), then release the previous migration set: see the README, Restoring the database")}; fi`,
    'exit "$failed"',
  ];
  return ["bash", "-c", lines.join("\n")];
}

/** The migration command's whole environment, in Docker's env-file format (one NAME=value per line). */
export function migrationEnvFile(databaseUrl: string): string {
  // The format has no quoting: a line break would end the value and start another variable.
  if (/[\r\n]/.test(databaseUrl)) throw new Error("the database URL contains a line break");
  return `DATABASE_URL=${databaseUrl}\n`;
}
