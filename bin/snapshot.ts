/**
 * `npm run snapshot -- list --stack <name>` and
 * `npm run snapshot -- restore <file|latest> --stack <name> [--target-db <name>]`:
 * the stack's database snapshots, over the same executor and snapshot code as PgSnapshot.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { type ExecutorSpec, executorSpecFor, withExecutor } from "../components/providers/executor";
import { isPort, portReason } from "../components/providers/inputs";
import {
  containerAccess,
  type ListedSnapshot,
  listSnapshots,
  restoreSnapshot,
  type SnapshotLocation,
} from "../components/providers/snapshotStore";
import { dockerCommand, parseTarget } from "../components/target";
import { containerStateDir } from "../components/providers/routerServer";
import { renderMaintenancePage, routerCommands } from "../components/providers/routerState";
import { type ParsedStackConfig, PROJECT } from "../infra/config";
import { hostNames } from "../infra/names";
import { loadStackConfigFor } from "./stackConfigSource";

export const usage = `usage:
  npm run snapshot -- list --stack <name> [options]
  npm run snapshot -- restore <file|latest> --stack <name> [--target-db <name>] [options]

restore puts the snapshot into a scratch database first and swaps it in only when
pg_restore succeeded; the database it replaces is kept (its name is printed). Around
the swap into the live database, the stack's router answers public requests with its
maintenance page (503, Retry-After), unless one is up already, which it leaves up.

options:
  --config <file>   the stack's config from this plain-text file (laid out like
                    Pulumi.<stack>.yaml) instead of \`pulumi config\` / Pulumi.<stack>.yaml
  --host <host>     reach PostgreSQL over TCP from the target at this host (and --port)
  --port <port>     instead of \`docker exec\` into the stack's database container
environment:
  PGPASSWORD        the database password, when the connection needs one
                    (\`docker exec\` through the container's socket does not)`;

export interface CommandIo {
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  /** Usage and failure messages. */
  err(line: string): void;
  /** Project directory: where Pulumi.yaml and the stack files are. */
  projectDir: string;
}

/** Runs the command; resolves with the exit code (0 done, 1 failed, 2 bad usage). */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(argv);
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  try {
    const { config, source } = await loadStackConfigFor({
      stack: parsed.stack,
      configFile: parsed.configFile,
      projectDir: io.projectDir,
      searchPath: io.env.PATH ?? "",
    });
    const executor = executorSpecFor(parseTarget(config.target), config.sshPrivateKey);
    // Files carry the short name, as `pulumi.getStack()` gives it to the program.
    const location = snapshotLocation(config, path.posix.basename(parsed.stack), parsed.direct);
    io.out(`stack ${parsed.stack} (config from ${source})`);
    if (parsed.verb === "list") await list(executor, location, io);
    else {
      // Into the live database through its container: the router holds public requests meanwhile.
      const intoLive = parsed.targetDb === undefined && parsed.direct === undefined;
      const maintenance = intoLive ? restoreMaintenance(config) : undefined;
      await restore(
        executor,
        location,
        parsed.file,
        parsed.targetDb ?? config.database.name,
        io,
        maintenance,
      );
    }
    return 0;
  } catch (error) {
    io.err(`snapshot ${parsed.verb}: ${(error as Error).message}`);
    return 1;
  }
}

function parseCommand(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      stack: { type: "string" },
      config: { type: "string" },
      "target-db": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
    },
  });
  const [verb, ...rest] = positionals;
  if (verb !== "list" && verb !== "restore")
    throw new Error(`expected list or restore, got ${verb ?? "nothing"}`);
  if (!values.stack) throw new Error("--stack <name> is required");
  if (verb === "list" && rest.length > 0) throw new Error(`list takes no file, got ${rest.join(" ")}`);
  if (verb === "list" && values["target-db"]) throw new Error("--target-db applies to restore only");
  if (verb === "restore" && rest.length !== 1) throw new Error("restore takes one snapshot file (or latest)");
  if ((values.host === undefined) !== (values.port === undefined))
    throw new Error("--host and --port go together");
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !isPort(port)) throw new Error(`--port: ${portReason(values.port)}`);
  return {
    verb,
    file: rest[0],
    stack: values.stack,
    configFile: values.config,
    targetDb: values["target-db"],
    direct: values.host === undefined || port === undefined ? undefined : { host: values.host, port },
  };
}

/** The stack's router holding public requests on its maintenance page, around a restore's swap. */
export function restoreMaintenance(config: ParsedStackConfig): {
  hold: string[];
  release: string[];
  page: string;
} {
  const exec = [
    ...dockerCommand(parseTarget(config.target)),
    "exec",
    "-i",
    hostNames(config.deployment).router,
  ];
  const stateDir = containerStateDir(config.router.kind);
  return {
    hold: [...exec, ...routerCommands.holdMaintenance(stateDir)],
    release: [...exec, ...routerCommands.clearMaintenance(stateDir)],
    page: renderMaintenancePage(config.router.maintenance.message),
  };
}

/** Where the stack keeps its snapshots and how they are reached: the same settings the program gives PgSnapshot. */
export function snapshotLocation(
  config: ParsedStackConfig,
  stack: string,
  direct?: { host: string; port: number },
): SnapshotLocation {
  const { name, user } = config.database;
  return {
    owner: { project: PROJECT, stack },
    directory: config.snapshots.directory,
    access: direct
      ? {
          commandPrefix: [],
          host: direct.host,
          port: direct.port,
          user,
          database: name,
        }
      : containerAccess(
          dockerCommand(parseTarget(config.target)),
          hostNames(config.deployment).database,
          config.database,
        ),
  };
}

async function list(executor: ExecutorSpec, location: SnapshotLocation, io: CommandIo): Promise<void> {
  const snapshots = await withExecutor(executor, (run) => listSnapshots(run, location));
  if (snapshots.length === 0) {
    io.out(`no snapshots in ${location.directory}`);
    return;
  }
  io.out(
    `${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"} in ${location.directory}, newest first:`,
  );
  const rows = snapshots.map((s) => [s.fileName, s.takenAt.toISOString(), s.label, formatSize(s.size)]);
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column].length)));
  for (const row of rows)
    io.out(`  ${row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell)).join("  ")}`);
}

async function restore(
  executor: ExecutorSpec,
  location: SnapshotLocation,
  file: string,
  targetDatabase: string,
  io: CommandIo,
  maintenance: ReturnType<typeof restoreMaintenance> | undefined,
): Promise<void> {
  await withExecutor(executor, async (run) => {
    const fileName = resolveFileName(file, location, await listSnapshots(run, location));
    io.out(`restoring ${fileName} into database ${targetDatabase} (${run.description})`);
    const report = await restoreSnapshot(run, location, {
      password: io.env.PGPASSWORD ?? "",
      fileName,
      targetDatabase,
      maintenance,
    });
    const seconds = (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000;
    io.out(
      `restored ${report.path} (${formatSize(report.size)}, sha256 ${report.sha256}) into database ${report.database} in ${seconds.toFixed(1)} s`,
    );
    if (report.maintenance === "held")
      io.out("the router answered public requests with its maintenance page (503) during the swap");
    else if (report.maintenance === "already")
      io.out("the router's maintenance page was already up, and stays up: take it down in the stack config");
    else if (report.maintenance === "unavailable")
      io.out("the router could not hold public requests during the swap (is it running?)");
    if (report.keptAs) {
      io.out(`the database it replaced is kept as ${report.keptAs}; drop it once you are sure:`);
      io.out(`  DROP DATABASE "${report.keptAs}";`);
    } else {
      io.out(`database ${report.database} did not exist before; nothing was replaced`);
    }
  });
}

/** `latest`, a file name, or a path inside the snapshot directory, to a file name of this stack. */
function resolveFileName(file: string, location: SnapshotLocation, snapshots: ListedSnapshot[]): string {
  if (file === "latest") {
    if (snapshots.length === 0) throw new Error(`no snapshots in ${location.directory} to restore`);
    return snapshots[0].fileName;
  }
  if (file.includes("/") && path.posix.dirname(file) !== location.directory.replace(/\/+$/, ""))
    throw new Error(`${file} is not in the stack's snapshot directory ${location.directory}`);
  const fileName = path.posix.basename(file);
  if (!snapshots.some((s) => s.fileName === fileName))
    throw new Error(
      `${fileName} is not among the stack's snapshots in ${location.directory} (see npm run snapshot -- list --stack ${location.owner.stack})`,
    );
  return fileName;
}

function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

if (require.main === module) {
  main(process.argv.slice(2), {
    env: process.env,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    projectDir: path.resolve(__dirname, ".."),
  }).then((code) => {
    process.exitCode = code;
  });
}
