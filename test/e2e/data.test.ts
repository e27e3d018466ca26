/**
 * The data side for real, on a staging-shaped stack whose images are all pinned by digest in the
 * local registry: a new migration set is taken behind a snapshot (the engine's own events give the
 * order), `npm run snapshot -- restore latest` brings the rows back, a migration whose validation
 * fails fails the update after it ran without moving traffic, and `pulumi destroy` refuses before
 * it deletes anything.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { run, runChecked } from "../support/process";
import { newDevStack, pinnedImage, pushRelease, type TestStack } from "./support/engine";
import { readEvents, stepOf } from "./support/events";
import { answersOnNewConnections, containerId, Probe, unexpected, whileProbing } from "./support/traffic";

/** One query through the database container's local socket, as an operator runs it; rows as text. */
async function sql(query: string): Promise<string> {
  return (
    await runChecked("docker", ["exec", "postgres", "psql", "-U", "app", "-d", "app", "-Atc", query])
  ).stdout.trim();
}

describe("data through the real engine: snapshots, migrations, restore, a protected volume", function () {
  this.timeout(900_000);
  let stack: TestStack;
  let snapshots: string;

  before(async () => {
    stack = await newDevStack({ environment: "staging" });
    snapshots = stack.snapshotDirectory;
    for (const key of ["slots.blue", "slots.green", "migrations"]) {
      await stack.pulumiChecked(["config", "rm", "--path", `${key}.build`]);
      await stack.pulumiChecked(["config", "set", "--path", `${key}.image`, pinnedImage("demo-app")]);
    }
    await stack.pulumiChecked(["config", "set", "--path", "database.image", pinnedImage("postgres")]);
    await stack.pulumiChecked(["config", "set", "--path", "redis.image", pinnedImage("redis")]);
    await stack.pulumiChecked(["config", "set", "--path", "router.image", pinnedImage("nginx")]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);
  });

  after(async () => {
    if (!stack) return;
    // The volume is protected and retained by design: the test removes it by hand.
    await stack.pulumi(["state", "unprotect", "--all", "--yes"]);
    try {
      await stack.teardown();
    } finally {
      await run("docker", ["volume", "rm", "switchyard-pgdata", "switchyard-redisdata"]);
    }
  });

  /** `npm run snapshot -- restore latest`, from the stack's project copy, as a user runs it. */
  const restoreLatest = async () => {
    const restored = await run(
      "npm",
      ["run", "--silent", "snapshot", "--", "restore", "latest", "--stack", "dev"],
      {
        cwd: stack.programDir,
        env: stack.env,
        timeoutMs: 300_000,
      },
    );
    assert.equal(restored.code, 0, restored.output);
    return restored;
  };

  it("runs every container from the image the registry's digest names", async () => {
    const imageId = async (reference: string) =>
      (await runChecked("docker", ["image", "inspect", "--format", "{{.Id}}", reference])).stdout.trim();
    const runs = async (container: string) =>
      (
        await runChecked("docker", ["container", "inspect", "--format", "{{.Image}}", container])
      ).stdout.trim();
    const expected = {
      postgres: "postgres",
      redis: "redis",
      "app-blue": "demo-app",
      "app-green": "demo-app",
      router: "nginx",
    } as const;
    for (const [container, image] of Object.entries(expected))
      assert.equal(await runs(container), await imageId(pinnedImage(image)), container);
  });

  it("runs every container, network and volume as designed, with the outputs the README documents", async () => {
    interface Inspected {
      Config: { User: string; Healthcheck?: { Test: string[] } };
      HostConfig: {
        NetworkMode: string;
        PortBindings: Record<string, { HostIp: string; HostPort: string }[]> | null;
        Memory: number;
        NanoCpus: number;
        RestartPolicy: { Name: string };
      };
      NetworkSettings: { Networks: Record<string, unknown> };
    }
    const inspect = async (name: string) =>
      (JSON.parse((await runChecked("docker", ["container", "inspect", name])).stdout) as Inspected[])[0];
    for (const name of ["postgres", "redis"]) {
      const data = await inspect(name);
      assert.deepEqual(Object.keys(data.NetworkSettings.Networks), ["switchyard-private"], name);
      assert.deepEqual(data.HostConfig.PortBindings ?? {}, {}, `${name} publishes no port`);
      assert.equal(data.HostConfig.RestartPolicy.Name, "unless-stopped", name);
      assert.ok(data.HostConfig.Memory > 0 && data.Config.Healthcheck, name);
    }
    const internal = await runChecked("docker", [
      "network",
      "inspect",
      "--format",
      "{{.Internal}}",
      "switchyard-private",
    ]);
    assert.equal(internal.stdout.trim(), "true", "the data stores' network has no way out");
    for (const [name, port] of [
      ["app-blue", "18081"],
      ["app-green", "18082"],
    ]) {
      const slot = await inspect(name);
      assert.deepEqual(
        slot.HostConfig.PortBindings,
        { "3000/tcp": [{ HostIp: "127.0.0.1", HostPort: port }] },
        name,
      );
      assert.deepEqual(Object.keys(slot.NetworkSettings.Networks).sort(), [
        "switchyard-edge",
        "switchyard-private",
      ]);
      assert.equal(slot.Config.User, "1000:1000", name);
      assert.deepEqual([slot.HostConfig.Memory, slot.HostConfig.NanoCpus], [256 * 2 ** 20, 0.5e9], name);
      assert.equal(slot.HostConfig.RestartPolicy.Name, "unless-stopped", name);
      assert.equal(slot.Config.Healthcheck?.Test[0], "CMD-SHELL", name);
    }
    const router = await inspect("router");
    assert.equal(router.HostConfig.NetworkMode, "host");
    assert.ok(router.Config.Healthcheck, "the router has a healthcheck");
    for (const volume of ["switchyard-pgdata", "switchyard-redisdata"])
      await runChecked("docker", ["volume", "inspect", volume]);

    const outputs = await stack.outputs();
    assert.deepEqual(
      {
        environment: outputs.environment,
        activeSlot: outputs.activeSlot,
        routerUrl: outputs.routerUrl,
        databaseName: outputs.databaseName,
        migrationSet: outputs.migrationSet,
        snapshotDirectory: outputs.snapshotDirectory,
        blue: (outputs.slots as Record<string, unknown>).blue,
      },
      {
        environment: "staging",
        activeSlot: "blue",
        routerUrl: "http://localhost:8080",
        databaseName: "app",
        migrationSet: "002",
        snapshotDirectory: snapshots,
        blue: { image: pinnedImage("demo-app"), version: "1.0.0", container: "app-blue" },
      },
    );
    assert.ok(
      String(outputs.lastSnapshot).startsWith(`${snapshots}/switchyard+dev+`),
      String(outputs.lastSnapshot),
    );
  });

  it("snapshots before a new migration set runs, and restore latest brings the rows back", async () => {
    await sql("INSERT INTO items (name, quantity) VALUES ('bolt', 3), ('nut', 5)");
    const migrations = await pushRelease("demo-app", "migrations-003", {
      "migrations/003_scale_quantities.sql": "UPDATE items SET quantity = quantity * 10;\n",
    });
    await stack.pulumiChecked(["config", "set", "--path", "migrations.image", migrations]);
    await stack.pulumiChecked(["config", "set", "--path", "migrations.version", "003"]);
    const update = await stack.pulumiChecked(["up", "--yes", "--skip-preview", "--json"], 600_000);

    const events = readEvents(update.stdout);
    const snapshotTaken = events.findIndex((event) => stepOf(event, "resOutputsEvent", "db-snapshot"));
    const migrationStarted = events.findIndex(
      (event) => (stepOf(event, "resourcePreEvent", "migrate-run")?.op ?? "same") !== "same",
    );
    assert.ok(snapshotTaken !== -1, "the snapshot was taken");
    assert.ok(migrationStarted !== -1, "the migration ran");
    assert.ok(snapshotTaken < migrationStarted, "the snapshot was done before the migration started");
    assert.equal(
      await sql("SELECT string_agg(name || '=' || quantity, ',' ORDER BY name) FROM items"),
      "bolt=30,nut=50",
    );
    assert.equal(await sql("SELECT max(version) FROM schema_migrations"), "003_scale_quantities");
    assert.ok(
      fs.readdirSync(snapshots).some((file) => /^switchyard\+dev\+.+\+003\.dump$/.test(file)),
      fs.readdirSync(snapshots).join(", "),
    );

    // Every request meanwhile gets the active slot, or the maintenance page while the swap runs.
    let restored: { output: string } | undefined;
    const seen = await whileProbing(new Probe(4, 20), async () => {
      restored = await restoreLatest();
    });
    assert.deepEqual(unexpected(seen, ["blue 1.0.0", "HTTP 503"]), {});
    assert.match(
      restored?.output ?? "",
      /the router answered public requests with its maintenance page \(503\) during the swap/,
    );
    assert.match(restored?.output ?? "", /the database it replaced is kept as \S+/);
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"], "the page is down again");
    assert.equal(
      await sql("SELECT string_agg(name || '=' || quantity, ',' ORDER BY name) FROM items"),
      "bolt=3,nut=5",
    );
    assert.equal(await sql("SELECT max(version) FROM schema_migrations"), "002_add_items_created_at");
  });

  it("fails a migration whose validation fails, after it ran, keeping traffic; again until the data is restored", async () => {
    assert.equal(await sql("SELECT count(*) FROM items"), "2");
    const slots = [await containerId("app-blue"), await containerId("app-green")];
    const migrations = await pushRelease("demo-app", "migrations-004", {
      "migrations/004_drop_nuts.sql": "DELETE FROM items WHERE name = 'nut';\n",
    });
    await stack.pulumiChecked(["config", "set", "--path", "migrations.image", migrations]);
    await stack.pulumiChecked(["config", "set", "--path", "migrations.version", "004"]);
    const validation = { name: "items kept", query: "SELECT count(*) FROM items", expect: "unchanged" };
    for (const [key, value] of Object.entries(validation))
      await stack.pulumiChecked(["config", "set", "--path", `migrations.validations[0].${key}`, value]);

    const refused =
      /validation "items kept" after migration set 004 failed: expected 2 \(its value before the migration\), got 1/;
    const failed = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
    assert.notEqual(failed.code, 0);
    assert.match(failed.output, refused);
    assert.match(failed.output, /traffic stays where it is/);
    assert.equal(await sql("SELECT count(*) FROM items"), "1", "the migration ran");
    assert.equal(await sql("SELECT max(version) FROM schema_migrations"), "004_drop_nuts");
    assert.deepEqual(
      [await containerId("app-blue"), await containerId("app-green")],
      slots,
      "no slot changed",
    );
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);

    const again = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
    assert.notEqual(again.code, 0, "the values read before the migration still hold");
    assert.match(again.output, refused);

    // What the README says to do: restore the snapshot, then the previous migration set.
    await restoreLatest();
    assert.equal(await sql("SELECT count(*) FROM items"), "2");
    await stack.pulumiChecked(["config", "rm", "--path", "migrations.validations"]);
    await stack.pulumiChecked(["config", "set", "--path", "migrations.image", pinnedImage("demo-app")]);
    await stack.pulumiChecked(["config", "set", "--path", "migrations.version", "002"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.equal(await sql("SELECT max(version) FROM schema_migrations"), "002_add_items_created_at");
    assert.equal(await sql("SELECT count(*) FROM items"), "2");
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);
  });

  it("refuses `pulumi destroy`, even without its preview, before it deletes anything", async () => {
    const running = async () => (await runChecked("docker", ["ps", "--quiet", "--no-trunc"])).stdout;
    const before = await running();
    const refused = await stack.pulumi(["destroy", "--yes", "--skip-preview"], 600_000);
    assert.notEqual(refused.code, 0, refused.output);
    assert.match(refused.output, /resource ".*::keep-data-outside-development" cannot be deleted/);
    assert.match(refused.output, /pulumi state unprotect/);
    assert.equal(await running(), before);
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });
});
