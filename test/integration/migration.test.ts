/**
 * The release order on a real database: PgSnapshot, then the demo app's migrations run exactly
 * as MigrationJob runs them (the command after the image in its `docker run` argv, with the
 * environment its env-file stdin gives), then the app reports its migrations up to date. The
 * snapshot taken first then undoes the migrations.
 */
import { demoAppDir, startDemoApp } from "../support/demoApp";
import assert from "node:assert/strict";
import { loadStackConfigFor } from "../../bin/stackConfigSource";
import { migrationDockerArgv, migrationEnvFile } from "../../components/MigrationJob";
import { openExecutor } from "../../components/providers/executor";
import { type PgSnapshotInputs, pgSnapshotProvider } from "../../components/providers/PgSnapshot";
import { restoreSnapshot } from "../../components/providers/snapshotStore";
import { type PgServer, startPostgres, uniqueDatabaseName } from "../support/postgres";
import { freePort, run, waitForHttp } from "../support/process";
import { repoRoot } from "../support/program";
import { Cleanups, localLocation, temporaryDirectory } from "../support/snapshotFixtures";

/** The migration image's build context: its WORKDIR holds exactly these files. */

/**
 * What `docker run` does with MigrationJob's argv and stdin: runs the command that follows the
 * image, with only the variables of the env file (and the image's PATH).
 */
function asDockerWould(argv: string[], stdin: string, image: string) {
  const imageAt = argv.indexOf(image);
  assert.ok(imageAt > 0, "the image is in the argv");
  assert.deepEqual(argv.slice(argv.indexOf("--env-file"), argv.indexOf("--env-file") + 2), [
    "--env-file",
    "/dev/stdin",
  ]);
  const env: Record<string, string> = {};
  for (const line of stdin.split("\n").filter(Boolean)) {
    const equals = line.indexOf("=");
    env[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return { command: argv.slice(imageAt + 1), env };
}

describe("migrations after a snapshot, against real PostgreSQL", function () {
  this.timeout(120_000);
  let pg: PgServer;
  const cleanups = new Cleanups();

  before(async () => {
    pg = await startPostgres();
  });

  after(async () => {
    await pg?.dispose();
  });

  afterEach(() => cleanups.run());

  it("runs MigrationJob's command after PgSnapshot; /health reports up-to-date, and the snapshot undoes it", async () => {
    const { config } = await loadStackConfigFor({
      stack: "dev",
      projectDir: repoRoot,
      searchPath: "",
    });
    const migrations = config.migrations;
    assert.ok(migrations, "the dev stack runs migrations");
    const database = uniqueDatabaseName("release");
    await pg.createDatabase(database);
    cleanups.add(() => pg.dropDatabase(database));
    const databaseUrl = pg.url(database);
    const dir = temporaryDirectory(cleanups);
    const location = localLocation(pg, database, dir, "dev");
    const image = "sha256:5f0c2ab4d2e1c3b7a9e8d6f4c2a0b8e6d4c2a0b8e6d4c2a0b8e6d4c2a0b8e6d4";

    // 1. The snapshot, as the engine would create it.
    const snapshotInputs: PgSnapshotInputs = {
      executor: { kind: "local" },
      ...location.owner,
      directory: dir,
      retention: config.snapshots.retention,
      ...location.access,
      password: pg.password,
      migrationSet: migrations.version,
      image,
    };
    const { outs: snapshot } = await pgSnapshotProvider.create(snapshotInputs);
    assert.ok(snapshot, "create returns the snapshot's outputs");
    assert.match(
      snapshot.fileName,
      new RegExp(`^switchyard\\+dev\\+\\d{8}T\\d{6}\\.\\d{3}Z\\+${migrations.version}\\.dump$`),
    );

    // 2. MigrationJob's container, run the way docker would run it.
    const argv = migrationDockerArgv(["docker"], "migrate", "switchyard-private", image, migrations.command);
    const stdin = migrationEnvFile(databaseUrl);
    assert.deepEqual(argv.slice(0, 3), ["docker", "run", "--rm"]);
    assert.ok(!argv.join(" ").includes(pg.password), "the password is not on docker's command line");
    const container = asDockerWould(argv, stdin, image);
    assert.deepEqual(container.command, ["node", "migrate.js"]);
    assert.deepEqual(Object.keys(container.env), ["DATABASE_URL"]);
    const [program, ...args] = container.command;
    const migrated = await run(program, args, {
      cwd: demoAppDir,
      env: { PATH: process.env.PATH, ...container.env },
    });
    assert.equal(migrated.code, 0, migrated.output);
    assert.match(migrated.stdout, /applied 2 migrations, 0 pending/);

    // 3. The app on the migrated database.
    const port = await freePort();
    const app = await startDemoApp(port, { DATABASE_URL: databaseUrl, SLOT: "blue" });
    cleanups.add(() => app.stop("SIGKILL"));
    const health = `http://127.0.0.1:${port}/health`;
    // A first connection may outlast the app's 1 s check timeout on a busy machine: wait for a settled answer.
    const migratedHealth = await waitForHttp(health, (response) => response.status === 200, 30_000);
    assert.equal(JSON.parse(migratedHealth.body).migrations, "up-to-date");

    // 4. The snapshot from before the migrations brings the database back; the app notices.
    const executor = await openExecutor({ kind: "local" });
    cleanups.add(() => executor.close());
    const restored = await restoreSnapshot(executor, location, {
      password: pg.password,
      fileName: snapshot.fileName,
      targetDatabase: database,
    });
    cleanups.add(() => pg.dropDatabase(restored.keptAs as string));
    const pending = await waitForHttp(health, (res) => JSON.parse(res.body).migrations === "pending", 30_000);
    assert.equal(pending.status, 206, pending.body);
  });
});
