/**
 * `npm run snapshot -- list|restore` end to end: a real process reading a stack config file,
 * against a real PostgreSQL through the local executor.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import { type Executor, openExecutor } from "../../components/providers/executor";
import { takeSnapshot } from "../../components/providers/snapshotStore";
import { type PgServer, startPostgres, uniqueDatabaseName } from "../support/postgres";
import { type RunResult, run } from "../support/process";
import { literal } from "../support/regexp";
import { repoRoot } from "../support/program";
import {
  Cleanups,
  fingerprint,
  localLocation,
  seedShop,
  temporaryDirectory,
} from "../support/snapshotFixtures";

const stack = "cli-test";

describe("npm run snapshot against real PostgreSQL", function () {
  this.timeout(120_000);
  let pg: PgServer;
  let executor: Executor;
  const cleanups = new Cleanups();

  before(async () => {
    pg = await startPostgres();
    executor = await openExecutor({ kind: "local" });
  });

  after(async () => {
    await executor?.close();
    await pg?.dispose();
  });

  afterEach(() => cleanups.run());

  /** A database with two snapshots (the second after a change), and a stack config file pointing at both. */
  async function stackWithSnapshots() {
    const database = uniqueDatabaseName("cli");
    await pg.createDatabase(database);
    cleanups.add(() => pg.dropDatabase(database));
    await seedShop(pg, database);
    const dir = temporaryDirectory(cleanups);
    const location = localLocation(pg, database, dir, stack);
    const take = (day: number) =>
      takeSnapshot(executor, location, {
        password: pg.password,
        trigger: `00${day}`,
        retention: 7,
        startedAt: new Date(Date.UTC(2026, 10, day, 3)),
      });
    const first = {
      snapshot: await take(1),
      contents: await fingerprint(pg, database),
    };
    await pg.query(database, "DELETE FROM orders WHERE id % 2 = 0");
    const second = {
      snapshot: await take(2),
      contents: await fingerprint(pg, database),
    };

    const configFile = path.join(temporaryDirectory(cleanups, "switchyard-config-"), `Pulumi.${stack}.yaml`);
    fs.writeFileSync(
      configFile,
      toYaml({
        config: {
          "switchyard:environment": "development",
          "switchyard:slots": {
            blue: { build: "examples/demo-app", version: "1.0.0" },
            green: { build: "examples/demo-app", version: "1.1.0" },
          },
          "switchyard:database": { name: database, user: pg.superuser },
          "switchyard:snapshots": { directory: dir, retention: 7 },
        },
      }),
    );
    return { database, dir, configFile, first, second };
  }

  /** The command as a user runs it, minus npm's banner: the same script `npm run snapshot` runs. */
  const snapshotCommand = (args: string[], password = pg.password): Promise<RunResult> =>
    run(process.execPath, ["--import", "tsx", "bin/snapshot.ts", ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, PGPASSWORD: password },
      timeoutMs: 60_000,
    });

  const direct = () => ["--host", pg.host, "--port", String(pg.port)];

  it("lists the stack's snapshots newest first, through npm run", async () => {
    const { configFile, first, second, dir } = await stackWithSnapshots();
    fs.writeFileSync(path.join(dir, "notes.txt"), "not a snapshot");

    const listed = await run(
      "npm",
      ["run", "--silent", "snapshot", "--", "list", "--stack", stack, "--config", configFile, ...direct()],
      {
        cwd: repoRoot,
        env: { PATH: process.env.PATH, PGPASSWORD: pg.password },
        timeoutMs: 60_000,
      },
    );

    assert.equal(listed.code, 0, listed.output);
    const lines = listed.stdout.trim().split("\n");
    assert.equal(lines[0], `stack ${stack} (config from ${configFile})`);
    assert.equal(lines[1], `2 snapshots in ${dir}, newest first:`);
    assert.match(
      lines[2],
      new RegExp(`^  ${literal(second.snapshot.fileName)}  2026-11-02T03:00:00.000Z  002  \\d+\\.\\d KiB$`),
    );
    assert.match(
      lines[3],
      new RegExp(`^  ${literal(first.snapshot.fileName)}  2026-11-01T03:00:00.000Z  001  `),
    );
    assert.equal(lines.length, 4);
  });

  it("restores the latest snapshot over a damaged database and says what it did", async () => {
    const { database, configFile, second } = await stackWithSnapshots();
    await pg.query(database, "DROP TABLE events; TRUNCATE customers CASCADE");

    const restored = await snapshotCommand([
      "restore",
      "latest",
      "--stack",
      stack,
      "--config",
      configFile,
      ...direct(),
    ]);

    assert.equal(restored.code, 0, restored.output);
    assert.deepEqual(await fingerprint(pg, database), second.contents);
    const kept = /the database it replaced is kept as (\w+);/.exec(restored.stdout)?.[1];
    assert.ok(kept, restored.stdout);
    cleanups.add(() => pg.dropDatabase(kept));
    assert.match(
      restored.stdout,
      new RegExp(`restoring ${literal(second.snapshot.fileName)} into database ${database} \\(local\\)`),
    );
    assert.match(
      restored.stdout,
      new RegExp(
        `restored ${literal(second.snapshot.path)} \\(\\d+\\.\\d KiB, sha256 ${second.snapshot.sha256}\\) into database ${database} in \\d+\\.\\d s`,
      ),
    );
    assert.match(restored.stdout, new RegExp(`  DROP DATABASE "${kept}";`));
  });

  it("restores an older snapshot into another database, leaving the live one alone", async () => {
    const { database, configFile, first, second } = await stackWithSnapshots();
    const copy = uniqueDatabaseName("copy");
    cleanups.add(() => pg.dropDatabase(copy));

    const restored = await snapshotCommand([
      "restore",
      first.snapshot.path,
      "--stack",
      stack,
      "--config",
      configFile,
      "--target-db",
      copy,
      ...direct(),
    ]);

    assert.equal(restored.code, 0, restored.output);
    assert.match(restored.stdout, new RegExp(`database ${copy} did not exist before; nothing was replaced`));
    assert.deepEqual(await fingerprint(pg, copy), first.contents);
    assert.deepEqual(await fingerprint(pg, database), second.contents);
  });

  it("fails with a clear, secret-free message and exit code 1", async () => {
    const { configFile, dir } = await stackWithSnapshots();

    const unknown = await snapshotCommand([
      "restore",
      "switchyard_cli-test_20990101T000000.000Z_9.dump",
      "--stack",
      stack,
      "--config",
      configFile,
      ...direct(),
    ]);
    assert.equal(unknown.code, 1, unknown.output);
    assert.match(
      unknown.stderr,
      new RegExp(
        `snapshot restore: switchyard_cli-test_20990101T000000\\.000Z_9\\.dump is not among the stack's snapshots in ${dir}`,
      ),
    );

    const wrong = "Wr0ng-pa55word-for-cli";
    const refused = await snapshotCommand(
      ["restore", "latest", "--stack", stack, "--config", configFile, ...direct()],
      wrong,
    );
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.stderr, /password authentication failed for user "postgres"/);
    assert.ok(!refused.output.includes(wrong) && !refused.output.includes(pg.password), refused.output);

    const usage = await snapshotCommand(["restore", "--stack", stack]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^restore takes one snapshot file \(or latest\)\n\nusage:/);
  });
});
