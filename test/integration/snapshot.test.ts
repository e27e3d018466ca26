/**
 * Snapshots, retention and restore against a real PostgreSQL, through the local executor:
 * exactly what PgSnapshot and `npm run snapshot` run on a target.
 */
import { routerCommands, routerLayout } from "../../components/providers/routerState";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  type Executor,
  type ExecutorSpec,
  openExecutor,
  withExecutor,
} from "../../components/providers/executor";
import { PgSnapshot, type PgSnapshotInputs } from "../../components/providers/PgSnapshot";
import { parseSnapshotFileName, snapshotFileName } from "../../components/providers/snapshotFiles";
import {
  listSnapshots,
  restoreSnapshot,
  type SnapshotLocation,
  takeSnapshot,
} from "../../components/providers/snapshotStore";
import { callSerializedProvider, providerTextOf } from "../support/dynamicProvider";
import { type PgServer, startPostgres, uniqueDatabaseName } from "../support/postgres";
import { delay } from "../support/process";
import { literal } from "../support/regexp";
import { type SshServer, startSshd } from "../support/sshd";
import {
  addBulk,
  Cleanups,
  directoryContents,
  fileSha256,
  fingerprint,
  localLocation,
  seedShop,
  temporaryDirectory,
} from "../support/snapshotFixtures";

const trigger = "2026-11-20-041";
const dayAt = (day: number) => new Date(Date.UTC(2026, 10, day, 3, 0, 0));

describe("database snapshots against real PostgreSQL", function () {
  this.timeout(180_000);
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

  const newDatabase = async (prefix = "snap"): Promise<string> => {
    const name = uniqueDatabaseName(prefix);
    await pg.createDatabase(name);
    cleanups.add(() => pg.dropDatabase(name));
    return name;
  };

  const databasesLike = async (pattern: string): Promise<string[]> =>
    (
      await pg.query<{ datname: string }>(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE $1",
        [pattern],
      )
    ).map((row) => row.datname);

  const take = (location: SnapshotLocation, retention = 7, startedAt?: Date) =>
    takeSnapshot(executor, location, {
      password: pg.password,
      trigger,
      retention,
      startedAt,
    });

  describe("round trip", () => {
    it("takes a verified, private, checksummed dump and restores a mutated database to exactly its contents", async () => {
      const database = await newDatabase();
      await seedShop(pg, database);
      const original = await fingerprint(pg, database);
      const dir = path.join(temporaryDirectory(cleanups), "nested", "snapshots");
      const location = localLocation(pg, database, dir);

      const taken = await take(location);

      assert.equal(taken.path, path.join(dir, taken.fileName));
      assert.deepEqual(fs.readdirSync(dir), [taken.fileName], "nothing but the dump: no partial left");
      assert.equal(parseSnapshotFileName(location.owner, taken.fileName)?.label, trigger);
      const stat = fs.statSync(taken.path);
      assert.equal(stat.mode & 0o777, 0o600);
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
      assert.equal(taken.size, stat.size);
      assert.equal(taken.sha256, fileSha256(taken.path));
      assert.equal(fs.readFileSync(taken.path).subarray(0, 5).toString(), "PGDMP", "custom format");
      const [{ server_version }] = await pg.query<{ server_version: string }>(
        "postgres",
        "SHOW server_version",
      );
      assert.equal(taken.serverVersion, server_version);
      assert.ok(Date.parse(taken.startedAt) <= Date.parse(taken.finishedAt));
      assert.deepEqual(taken.pruned, []);

      // A migration gone wrong: a table dropped, rows deleted and changed, a table added.
      await pg.query(
        database,
        `DROP TABLE orders CASCADE;
         DELETE FROM customers WHERE id % 3 = 0;
         UPDATE events SET payload = '{}' WHERE id < 100;
         CREATE TABLE added_by_migration (id int);
         SELECT setval('customers_id_seq', 99999);`,
      );
      assert.notDeepEqual(await fingerprint(pg, database), original);
      // The app is connected while the restore happens.
      const appSession = await openSession(database);

      const report = await restoreSnapshot(executor, location, {
        password: pg.password,
        fileName: taken.fileName,
        targetDatabase: database,
      });

      assert.deepEqual(await fingerprint(pg, database), original);
      assert.equal(report.sha256, taken.sha256);
      assert.equal(report.database, database);
      assert.ok(report.keptAs, "the replaced database is kept");
      cleanups.add(() => pg.dropDatabase(report.keptAs as string));
      const kept = await pg.query(report.keptAs, "SELECT to_regclass('added_by_migration') AS t");
      assert.equal(kept[0].t, "added_by_migration", "the kept database is the one the restore replaced");
      await assert.rejects(appSession.query("SELECT 1"), "the app's old session was ended by the swap");
      assert.deepEqual(await databasesLike("switchyard_restore_%"), [], "no scratch database left");
    });

    it("holds the router's maintenance page around the swap, leaves an operator's up, and goes on without a router", async () => {
      const database = await newDatabase();
      await seedShop(pg, database, 0.1);
      const location = localLocation(pg, database, temporaryDirectory(cleanups));
      const taken = await take(location);
      const stateDir = temporaryDirectory(cleanups);
      const pagePath = routerLayout(stateDir).maintenancePage;
      // The page the hold command got, kept aside: the test sees it was put up.
      const keepingACopy = ["sh", "-c", 'f=$1; shift; tee "$f.seen" | "$@"', "sh", pagePath];
      let restores = 0;
      const restore = (maintenance: { hold: string[]; release: string[]; page: string }) =>
        restoreSnapshot(executor, location, {
          password: pg.password,
          fileName: taken.fileName,
          targetDatabase: database,
          maintenance,
          // One second apart: the replaced database is kept under a name with the second in it.
          startedAt: new Date(Date.now() + 1000 * restores++),
        }).then((report) => {
          if (report.keptAs) cleanups.add(() => pg.dropDatabase(report.keptAs as string));
          return report;
        });
      const maintenance = {
        hold: routerCommands.holdMaintenance(stateDir),
        release: routerCommands.clearMaintenance(stateDir),
        page: "<p>restoring</p>",
      };

      const held = await restore({ ...maintenance, hold: [...keepingACopy, ...maintenance.hold] });
      assert.equal(held.maintenance, "held");
      assert.equal(fs.readFileSync(`${pagePath}.seen`, "utf8"), "<p>restoring</p>", "the page was put up");
      assert.ok(!fs.existsSync(pagePath), "and taken down after the swap");

      fs.writeFileSync(pagePath, "the operator's");
      const already = await restore(maintenance);
      assert.equal(already.maintenance, "already");
      assert.equal(fs.readFileSync(pagePath, "utf8"), "the operator's", "an operator's page stays up");
      fs.rmSync(pagePath);

      const without = await restore({ ...maintenance, hold: ["false"] });
      assert.equal(without.maintenance, "unavailable");
      assert.ok(without.keptAs, "the restore went on");
    });

    it("reads each validation query's value from the data it dumped, and fails on a query that does not run", async () => {
      const database = await newDatabase();
      await seedShop(pg, database);
      const location = localLocation(pg, database, temporaryDirectory(cleanups));
      const taken = await takeSnapshot(executor, location, {
        password: pg.password,
        trigger,
        retention: 7,
        queries: [
          "SELECT count(*) FROM customers",
          "SELECT email FROM customers WHERE id = 1",
          "SELECT count(*) FROM orders WHERE note IS NULL",
        ],
      });
      assert.deepEqual(taken.valuesBefore, ["5000", "user1@example.com", "2857"]);
      assert.deepEqual((await take(location)).valuesBefore, [], "none asked, none read");
      await assert.rejects(
        takeSnapshot(executor, location, {
          password: pg.password,
          trigger,
          retention: 7,
          queries: ["SELECT count(*) FROM customers", "SELECT count(*) FROM no_such_table"],
        }),
        /validation query 2 failed on \S+ before the migration/,
      );
    });

    it("restores into another database without touching the live one", async () => {
      const database = await newDatabase();
      await seedShop(pg, database);
      const original = await fingerprint(pg, database);
      const location = localLocation(pg, database, temporaryDirectory(cleanups));
      const taken = await take(location);
      await pg.query(database, "DELETE FROM orders WHERE id > 100");
      const live = await fingerprint(pg, database);
      const copy = uniqueDatabaseName("copy");
      cleanups.add(() => pg.dropDatabase(copy));

      const report = await restoreSnapshot(executor, location, {
        password: pg.password,
        fileName: taken.fileName,
        targetDatabase: copy,
      });

      assert.equal(report.keptAs, undefined);
      assert.deepEqual(await fingerprint(pg, copy), original);
      assert.deepEqual(await fingerprint(pg, database), live);
    });

    it("leaves the target as it was, and no scratch database, when pg_restore fails midway", async () => {
      const database = await newDatabase();
      await seedShop(pg, database);
      const dir = temporaryDirectory(cleanups);
      const location = localLocation(pg, database, dir);
      const taken = await take(location);
      // Same owner and a later stamp, but cut short in the middle of the table data.
      const truncated = snapshotFileName(
        location.owner,
        new Date(Date.parse(taken.startedAt) + 1000),
        trigger,
      );
      const bytes = fs.readFileSync(taken.path);
      fs.writeFileSync(path.join(dir, truncated), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await pg.query(database, "DELETE FROM events");
      const before = await fingerprint(pg, database);

      await assert.rejects(
        restoreSnapshot(executor, location, {
          password: pg.password,
          fileName: truncated,
          targetDatabase: database,
        }),
        (error: Error) => {
          assert.match(
            error.message,
            new RegExp(`restore of ${literal(`${dir}/${truncated}`)} into database ${database}`),
          );
          assert.match(
            error.message,
            /pg_restore into a scratch database failed \(exit status 1\); \w+ is unchanged/,
          );
          return true;
        },
      );
      assert.deepEqual(await fingerprint(pg, database), before);
      assert.deepEqual(await databasesLike("switchyard_restore_%"), []);
      assert.deepEqual(await databasesLike(`${database}_before_%`), []);
    });

    it("refuses to restore a file that is not one of the stack's snapshots", async () => {
      const database = await newDatabase();
      const dir = temporaryDirectory(cleanups);
      const foreign = snapshotFileName({ project: "switchyard", stack: "stage" }, new Date(), trigger);
      await assert.rejects(
        restoreSnapshot(executor, localLocation(pg, database, dir), {
          password: pg.password,
          fileName: foreign,
          targetDatabase: database,
        }),
        new RegExp(
          `^Error: ${literal(foreign)}: not a snapshot of stack test; expected a name like switchyard\\+test\\+<UTC stamp>\\+<label>\\.dump$`,
        ),
      );
    });
  });

  describe("over ssh, with the tools behind a command prefix", () => {
    let sshd: SshServer;

    before(async () => {
      sshd = await startSshd();
    });

    after(async () => {
      await sshd?.stop();
    });

    it("takes, lists and restores exactly as locally", async () => {
      const database = await newDatabase();
      await seedShop(pg, database);
      const original = await fingerprint(pg, database);
      const dir = temporaryDirectory(cleanups);
      const local = localLocation(pg, database, dir);
      // Like `docker exec`: the tools run as someone who cannot see the snapshot directory (0700, ours).
      const commandPrefix = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : ["env"];
      const location = { ...local, access: { ...local.access, commandPrefix } };
      const spec: ExecutorSpec = {
        kind: "ssh",
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        hostKey: sshd.hostKey,
        privateKey: sshd.privateKey,
      };

      const { taken, listed, report } = await withExecutor(spec, async (remote) => {
        const taken = await takeSnapshot(remote, location, { password: pg.password, trigger, retention: 7 });
        const listed = await listSnapshots(remote, location);
        await pg.query(
          database,
          "DROP TABLE events; DELETE FROM customers WHERE id > 10 AND id NOT IN (SELECT customer_id FROM orders)",
        );
        const report = await restoreSnapshot(remote, location, {
          password: pg.password,
          fileName: taken.fileName,
          targetDatabase: database,
        });
        return { taken, listed, report };
      });

      cleanups.add(() => pg.dropDatabase(report.keptAs as string));
      assert.equal(taken.sha256, fileSha256(taken.path));
      assert.equal(fs.statSync(taken.path).mode & 0o777, 0o600);
      assert.deepEqual(
        listed.map((s) => s.fileName),
        [taken.fileName],
      );
      assert.equal(report.sha256, taken.sha256);
      assert.deepEqual(await fingerprint(pg, database), original);
    });
  });

  describe("retention", () => {
    it("keeps exactly the newest 7 of 10 and never touches foreign files", async () => {
      const database = await newDatabase();
      await pg.query(database, "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g");
      const dir = temporaryDirectory(cleanups);
      const location = localLocation(pg, database, dir);
      const foreign = {
        "notes.txt": "keep me",
        [snapshotFileName({ project: "switchyard", stack: "stage" }, dayAt(1), "1")]: "stage's dump",
        [snapshotFileName({ project: "other", stack: "test" }, dayAt(1), "1")]: "another project's dump",
        "switchyard_test_latest.dump": "a hand-made copy",
        "switchyard_test_20261101T030000.000Z_x.dump.gz": "a compressed copy",
      };
      for (const [name, text] of Object.entries(foreign)) fs.writeFileSync(path.join(dir, name), text);

      const taken: string[] = [];
      for (let day = 1; day <= 10; day++) {
        const snapshot = await take(location, 7, dayAt(day));
        taken.push(snapshot.fileName);
        assert.deepEqual(snapshot.pruned, day > 7 ? [taken[day - 8]] : [], `after snapshot ${day}`);
        const own = (await listSnapshots(executor, location)).map((s) => s.fileName);
        assert.equal(own.length, Math.min(day, 7), `after snapshot ${day}`);
      }

      const own = (await listSnapshots(executor, location)).map((s) => s.fileName);
      assert.deepEqual(own, taken.slice(3).reverse(), "the newest 7, newest first");
      for (const [name, text] of Object.entries(foreign)) {
        assert.equal(fs.readFileSync(path.join(dir, name), "utf8"), text, `${name} untouched`);
      }
      assert.equal(fs.readdirSync(dir).length, 7 + Object.keys(foreign).length);

      // A target whose clock is behind: its snapshot looks oldest, yet it is the one that stays.
      const skewed = await take(location, 7, new Date(Date.UTC(2020, 0, 1)));
      assert.deepEqual(skewed.pruned, [taken[3]]);
      const after = (await listSnapshots(executor, location)).map((s) => s.fileName);
      assert.deepEqual(after, [...taken.slice(4).reverse(), skewed.fileName]);
    });
  });

  describe("a failed snapshot leaves no partial file, prunes nothing and says why", () => {
    let bulkDatabase: string;

    before(async () => {
      bulkDatabase = uniqueDatabaseName("bulk");
      await pg.createDatabase(bulkDatabase);
      // Big enough that a dump takes a while and overflows a tiny disk.
      await addBulk(pg, bulkDatabase, 120);
    });

    after(async () => {
      await pg?.dropDatabase(bulkDatabase);
    });

    /** A directory holding two good snapshots and a foreign file: what a failure must leave alone. */
    const populated = async (dir: string): Promise<Record<string, string>> => {
      const database = await newDatabase("small");
      await pg.query(database, "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g");
      const location = localLocation(pg, database, dir);
      await take(location, 7, dayAt(1));
      await take(location, 7, dayAt(2));
      fs.writeFileSync(path.join(dir, "notes.txt"), "keep me");
      return directoryContents(dir);
    };

    /**
     * Runs a snapshot that must fail with `retention: 1` (a success would prune both existing
     * snapshots), then checks the directory is exactly as it was and the message is secret-free.
     */
    const expectFailure = async (
      attempt: Promise<unknown>,
      dir: string,
      before: Record<string, string>,
      expected: RegExp[],
      secrets: string[] = [pg.password],
    ): Promise<void> => {
      await assert.rejects(attempt, (error: Error) => {
        for (const pattern of expected) assert.match(error.message, pattern);
        for (const secret of secrets)
          assert.ok(!error.message.includes(secret), `secret in: ${error.message}`);
        return true;
      });
      assert.deepEqual(directoryContents(dir), before);
    };

    it("wrong password", async () => {
      const dir = temporaryDirectory(cleanups);
      const before = await populated(dir);
      const database = await newDatabase();
      const wrong = "Wr0ng-pa55word-7731";
      await expectFailure(
        takeSnapshot(executor, localLocation(pg, database, dir), {
          password: wrong,
          trigger,
          retention: 1,
        }),
        dir,
        before,
        [
          new RegExp(`^snapshot of database ${database} \\(local\\) failed:`),
          /password authentication failed for user "postgres"/,
          /pg_dump of database \w+ failed \(exit status 1\)/,
        ],
        [wrong, pg.password],
      );
    });

    it("unknown database", async () => {
      const dir = temporaryDirectory(cleanups);
      const before = await populated(dir);
      await expectFailure(
        takeSnapshot(executor, localLocation(pg, "no_such_database", dir), {
          password: pg.password,
          trigger,
          retention: 1,
        }),
        dir,
        before,
        [/database "no_such_database" does not exist/, /pg_dump of database no_such_database failed/],
      );
    });

    it("the tools cannot run (no container runtime behind the prefix): fails at once", async () => {
      const dir = temporaryDirectory(cleanups);
      const before = await populated(dir);
      const local = localLocation(pg, bulkDatabase, dir);
      const commandPrefix = ["no-such-runtime", "exec", "-i", "postgres"];
      await expectFailure(
        takeSnapshot(
          executor,
          { ...local, access: { ...local.access, commandPrefix } },
          { password: pg.password, trigger, retention: 1 },
        ),
        dir,
        before,
        [
          /PostgreSQL is not ready after 1 attempt\(s\) \(pg_isready exit status 127\): .*no-such-runtime: command not found/,
        ],
      );
    });

    it("directory not writable", async () => {
      const dir = await limitedDirectory("read-only");
      const before = await populated(dir.path);
      dir.restrict();
      await expectFailure(
        takeSnapshot(executor, localLocation(pg, bulkDatabase, dir.path), {
          password: pg.password,
          trigger,
          retention: 1,
        }),
        dir.path,
        before,
        [
          new RegExp(
            `snapshot directory ${dir.path} is not writable: (Read-only file system|Permission denied)`,
          ),
        ],
      );
    });

    it("disk full (a tiny tmpfs; a read-only directory where mounting is not permitted)", async () => {
      const dir = await limitedDirectory("full");
      const before = await populated(dir.path);
      dir.restrict();
      await expectFailure(
        takeSnapshot(executor, localLocation(pg, bulkDatabase, dir.path), {
          password: pg.password,
          trigger,
          retention: 1,
        }),
        dir.path,
        before,
        [dir.kind === "tmpfs" ? /No space left on device/ : /is not writable/],
      );
    });

    it("pg_dump killed midway", async () => {
      const dir = temporaryDirectory(cleanups);
      const before = await populated(dir);
      const attempt = takeSnapshot(executor, localLocation(pg, bulkDatabase, dir), {
        password: pg.password,
        trigger,
        retention: 1,
      });
      attempt.catch(() => {}); // asserted below, after the kill
      const partial = await waitFor(() =>
        fs
          .readdirSync(dir)
          .find((name) => name.endsWith(".partial") && fs.statSync(path.join(dir, name)).size > 256 * 1024),
      );
      assert.ok(partial.startsWith(".switchyard+test+"), partial);
      const pgDump = processesRunning("pg_dump", bulkDatabase);
      assert.equal(pgDump.length, 1, "one pg_dump for this database");
      assert.ok(!pgDump[0].argv.includes(pg.password), "the password is not on pg_dump's command line");
      process.kill(pgDump[0].pid, "SIGKILL");
      await expectFailure(attempt, dir, before, [
        new RegExp(`pg_dump of database ${bulkDatabase} failed \\(killed by signal 9\\)`),
      ]);
    });

    interface LimitedDirectory {
      path: string;
      kind: "tmpfs" | "chmod";
      /** Takes effect after the directory was populated. */
      restrict(): void;
    }

    /**
     * A tmpfs of 1 MiB ("full") or remounted read-only ("read-only") where this process may
     * mount (root); elsewhere a directory made read-only with chmod (root would ignore that).
     */
    async function limitedDirectory(kind: "full" | "read-only"): Promise<LimitedDirectory> {
      const dir = temporaryDirectory(cleanups, "switchyard-limited-");
      if (process.getuid?.() === 0) {
        try {
          execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "switchyard-test", dir], {
            stdio: "pipe",
          });
        } catch (error) {
          // As root, chmod restricts nothing: a small mount is the only honest stand-in here.
          throw new Error(`root needs to mount a 1 MiB tmpfs for this test: ${(error as Error).message}`);
        }
        cleanups.add(() => execFileSync("umount", ["--lazy", dir]));
        return {
          path: dir,
          kind: "tmpfs",
          restrict: () => {
            if (kind === "read-only") execFileSync("mount", ["-o", "remount,ro", dir]);
          },
        };
      }
      return {
        path: dir,
        kind: "chmod",
        restrict: () => {
          fs.chmodSync(dir, 0o500);
          cleanups.add(() => fs.chmodSync(dir, 0o700));
        },
      };
    }
  });

  describe("the serialized provider", () => {
    it("snapshots a real database from its __provider text in a fresh node process", async () => {
      const database = await newDatabase();
      await seedShop(pg, database);
      const dir = temporaryDirectory(cleanups);
      const inputs: PgSnapshotInputs = {
        executor: { kind: "local" },
        project: "switchyard",
        stack: "test",
        directory: dir,
        retention: 3,
        commandPrefix: [],
        host: pg.host,
        port: pg.port,
        user: pg.superuser,
        database,
        password: pg.password,
        migrationSet: trigger,
        image: "sha256:0123456789abcdef",
      };
      const text = await providerTextOf(() => new PgSnapshot("db-snapshot", inputs));

      assert.deepEqual(await callSerializedProvider(text, "check", {}, inputs), { inputs, failures: [] });
      const created = (await callSerializedProvider(text, "create", inputs)) as {
        id: string;
        outs: Record<string, unknown>;
      };
      const file = path.join(dir, created.outs.fileName as string);
      assert.equal(created.id, file);
      assert.deepEqual(fs.readdirSync(dir), [path.basename(file)]);
      assert.equal(created.outs.sha256, fileSha256(file));
      assert.equal(created.outs.size, fs.statSync(file).size);
      assert.match(created.outs.serverVersion as string, /^\d+\.\d+/);
      const resultKeys = ["path", "fileName", "size", "sha256", "startedAt", "finishedAt", "serverVersion"];
      const echoed = Object.fromEntries(
        Object.entries(created.outs).filter(([key]) => !resultKeys.includes(key)),
      );
      assert.deepEqual(echoed, inputs, "the inputs, stored so the next diff compares like with like");

      // The engine compares the stored outputs with the next inputs.
      const olds = created.outs;
      assert.deepEqual(await callSerializedProvider(text, "diff", created.id, olds, inputs), {
        changes: false,
        replaces: [],
        deleteBeforeReplace: false,
      });
      assert.deepEqual(
        await callSerializedProvider(text, "diff", created.id, olds, {
          ...inputs,
          migrationSet: "2026-11-27-042",
        }),
        {
          changes: true,
          replaces: ["migrationSet"],
          deleteBeforeReplace: false,
        },
      );
      const updated = (await callSerializedProvider(text, "update", created.id, olds, {
        ...inputs,
        retention: 5,
      })) as { outs: Record<string, unknown> };
      assert.deepEqual(updated.outs, { ...olds, retention: 5 });
      assert.deepEqual(fs.readdirSync(dir), [path.basename(file)], "an update takes no new dump");

      await callSerializedProvider(text, "delete", created.id, olds);
      assert.equal(fileSha256(file), created.outs.sha256, "delete leaves the dump to retention");

      await assert.rejects(
        callSerializedProvider(text, "create", {
          ...inputs,
          password: "Wr0ng-pa55word-7731",
        }),
        (error: Error) => {
          assert.match(error.message, /password authentication failed/);
          assert.ok(!error.message.includes("Wr0ng-pa55word-7731"));
          return true;
        },
      );
      assert.deepEqual(fs.readdirSync(dir), [path.basename(file)]);
    });
  });

  /** A connection that stays open, like an app's pool. */
  async function openSession(database: string) {
    const { Client } = await import("pg");
    const client = new Client({ connectionString: pg.url(database) });
    client.on("error", () => {});
    await client.connect();
    cleanups.add(() => client.end().catch(() => {}));
    return client;
  }
});

/** Polls until `probe` returns something, for at most `timeoutMs`. */
async function waitFor<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`nothing turned up within ${timeoutMs} ms`);
    await delay(5);
  }
}

/** Processes running `program` with `needle` among their arguments: ours, found by a unique database name. */
function processesRunning(program: string, needle: string): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue; // gone meanwhile
    }
    if (argv.length > 0 && path.basename(argv[0]) === program && argv.some((arg) => arg.includes(needle)))
      found.push({ pid: Number(entry), argv });
  }
  return found;
}
