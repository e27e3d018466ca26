/**
 * PgSnapshot: a pg_dump of the stack's database, taken on the target whenever the migration set
 * (or the image that carries it) changes, before MigrationJob runs. The work happens in
 * snapshotStore; this file says when it happens.
 */
import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import { type ExecutorSpec, executorSpecProblems, withExecutor } from "./executor";
import { type ArgsOf, canonical, checked } from "./inputs";
import {
  locationProblems,
  passwordProblems,
  type SnapshotLocation,
  type TakenSnapshot,
  takeSnapshot,
} from "./snapshotStore";

/** Inputs as the provider receives them: every value resolved, secrets in plain text. */
export interface PgSnapshotInputs {
  /** Where commands run: `executorSpecFor(target, sshPrivateKey)`; an ssh spec holds a secret key. */
  executor: ExecutorSpec;
  /** Names the files; the resource defaults them to the Pulumi project and stack. */
  project: string;
  stack: string;
  /** Absolute directory on the target (created 0700). */
  directory: string;
  /** How many of this stack's snapshots to keep, this one included. */
  retention: number;
  /**
   * Runs the PostgreSQL tools where they reach the server, e.g.
   * `["docker", "exec", "-i", "postgres"]`; `[]` for none.
   */
  commandPrefix: string[];
  /** Server host and port as the tools see them; omitted, they use the default socket. */
  host?: string;
  port?: number;
  user: string;
  database: string;
  /** The user's password (kept secret); "" when the socket needs none. */
  password: string;
  /** The migration set this snapshot precedes; it also labels the file. */
  migrationSet: string;
  /** The image that carries the migrations; a new one takes a new snapshot too. */
  image: string;
  /**
   * Queries whose value is recorded with the snapshot (`valuesBefore`), for the validations the
   * migration job runs after the migration; new ones take a new snapshot too. Omitted: none.
   */
  validationQueries?: string[];
}

/**
 * What the snapshot produced; stored beside the inputs so the next diff compares like with like.
 * `valuesBefore` only with `validationQueries`.
 */
export type PgSnapshotResult = Omit<TakenSnapshot, "pruned" | "valuesBefore"> & { valuesBefore?: string[] };

export type PgSnapshotOutputs = PgSnapshotInputs & PgSnapshotResult;

/** A new snapshot is taken only when one of these changes: the trigger. */
const triggerKeys = ["migrationSet", "image", "validationQueries"] as const;
const inputKeys = [
  "executor",
  "project",
  "stack",
  "directory",
  "retention",
  "commandPrefix",
  "host",
  "port",
  "user",
  "database",
  "password",
  ...triggerKeys,
] as const;

function locationOf(inputs: PgSnapshotInputs): SnapshotLocation {
  return {
    owner: { project: inputs.project, stack: inputs.stack },
    directory: inputs.directory,
    access: {
      commandPrefix: inputs.commandPrefix,
      host: inputs.host,
      port: inputs.port,
      user: inputs.user,
      database: inputs.database,
    },
  };
}

function inputsOf(bag: PgSnapshotInputs): PgSnapshotInputs {
  return Object.fromEntries(
    inputKeys.filter((key) => bag[key] !== undefined).map((key) => [key, bag[key]]),
  ) as unknown as PgSnapshotInputs;
}

function resultOf(outputs: PgSnapshotOutputs): PgSnapshotResult {
  const { path, fileName, size, sha256, startedAt, finishedAt, serverVersion, valuesBefore } = outputs;
  return {
    path,
    fileName,
    size,
    sha256,
    startedAt,
    finishedAt,
    serverVersion,
    ...(valuesBefore === undefined ? {} : { valuesBefore }),
  };
}

/**
 * Thin on purpose: check validates, diff replaces on a trigger change, create takes the
 * snapshot, update only records new settings (a moved directory or a rotated password needs no
 * new dump), and delete leaves the file: snapshots are removed by retention alone, so
 * replacing or destroying this resource never loses a backup.
 */
export const pgSnapshotProvider: pulumi.dynamic.ResourceProvider<PgSnapshotInputs, PgSnapshotOutputs> = {
  async check(_olds, news) {
    const failures = [
      ...executorSpecProblems(news.executor),
      ...locationProblems(locationOf(news)),
      ...passwordProblems(news.password),
    ];
    if (!Number.isInteger(news.retention) || news.retention < 1 || news.retention > 1000)
      failures.push({
        property: "retention",
        reason: `expected 1-1000, got ${JSON.stringify(news.retention)}`,
      });
    for (const key of ["migrationSet", "image"] as const) {
      if (typeof news[key] !== "string" || news[key] === "")
        failures.push({ property: key, reason: "expected a non-empty string" });
    }
    const queries: unknown = news.validationQueries;
    if (
      queries !== undefined &&
      (!Array.isArray(queries) || queries.some((q) => typeof q !== "string" || q.trim() === ""))
    )
      failures.push({ property: "validationQueries", reason: "expected a list of SQL queries" });
    return checked(news, failures);
  },

  async diff(_id, olds, news) {
    const changed = inputKeys.filter((key) => canonical(olds[key]) !== canonical(news[key]));
    return {
      changes: changed.length > 0,
      replaces: changed.filter((key) => (triggerKeys as readonly string[]).includes(key)),
      // The new snapshot first: the old one's delete removes nothing anyway.
      deleteBeforeReplace: false,
    };
  },

  async create(inputs) {
    const taken = await withExecutor(inputs.executor, (executor) =>
      takeSnapshot(executor, locationOf(inputs), {
        password: inputs.password,
        trigger: inputs.migrationSet,
        retention: inputs.retention,
        queries: inputs.validationQueries,
      }),
    );
    const valuesBefore = inputs.validationQueries ? taken.valuesBefore : undefined;
    return {
      id: taken.path,
      outs: { ...inputsOf(inputs), ...resultOf({ ...inputs, ...taken, valuesBefore }) },
    };
  },

  async update(_id, olds, news) {
    return { outs: { ...inputsOf(news), ...resultOf(olds) } };
  },

  async delete() {},
};

/** The resource's arguments: the provider's inputs, each one an Input; project and stack may be left out. */
export type PgSnapshotArgs = Omit<ArgsOf<PgSnapshotInputs>, "project" | "stack"> &
  Partial<Pick<ArgsOf<PgSnapshotInputs>, "project" | "stack">>;

/** A snapshot of the database, replaced (a new dump) whenever `migrationSet` or `image` changes. */
export class PgSnapshot extends BundledResource {
  /** Absolute path of the dump on the target; also the resource id. */
  declare readonly path: pulumi.Output<string>;
  declare readonly fileName: pulumi.Output<string>;
  declare readonly size: pulumi.Output<number>;
  declare readonly sha256: pulumi.Output<string>;
  declare readonly startedAt: pulumi.Output<string>;
  declare readonly finishedAt: pulumi.Output<string>;
  declare readonly serverVersion: pulumi.Output<string>;
  /** What each of `validationQueries` answered right after the dump. */
  declare readonly valuesBefore: pulumi.Output<string[] | undefined>;

  constructor(name: string, args: PgSnapshotArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledProvider(__filename, { pgSnapshotProvider }),
      name,
      {
        ...args,
        project: args.project ?? pulumi.getProject(),
        stack: args.stack ?? pulumi.getStack(),
        password: pulumi.secret(args.password),
        path: undefined,
        fileName: undefined,
        size: undefined,
        sha256: undefined,
        startedAt: undefined,
        finishedAt: undefined,
        serverVersion: undefined,
        valuesBefore: undefined,
      },
      {
        ...opts,
        additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password", "executor"],
      },
      "switchyard",
      "PgSnapshot",
    );
  }
}
