/**
 * Psychic Homily's shape through the real engine: its stage stack file, with the Go API as a
 * native binary under systemd (the stand-in `examples/native-app`) on a host reached over SSH —
 * a container that boots systemd and shares this machine's network and Docker engine, as a VPS's
 * units share its own — and PostgreSQL, Redis, the migration job and the router in Docker there.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { SlotColour } from "../../infra/stackKeys";
import { runChecked } from "../support/process";
import { layout, type OwnPorts, type TestStack } from "./support/engine";
import { teardownKeptStack, updateStackFile } from "./support/examples";
import { newNativeExampleStack, startSystemdHost, type SystemdHost } from "./support/systemdHost";
import { answersOnNewConnections } from "./support/traffic";

const ports: OwnPorts = { httpPort: 8185, checkPort: 18580, loopbackPorts: { blue: 18581, green: 18582 } };
const loopback = { database: 18583, redis: 18584 };
const site = `http://127.0.0.1:${ports.httpPort}/`;
const binary = path.join(layout.bin, "native-app");
const units = { blue: "ph-stage-blue.service", green: "ph-stage-green.service" };
const upstream = "update ph-stage-router-upstream";

describe("native slots under systemd through the real engine (Psychic Homily)", function () {
  this.timeout(900_000);
  let host: SystemdHost;
  let stack: TestStack | undefined;
  const sha256 = createHash("sha256").update(fs.readFileSync(binary)).digest("hex");

  async function onHost(argv: string[]): Promise<string> {
    const result = await host.exec(argv);
    assert.equal(result.code, 0, `${argv.join(" ")}: ${result.stderr}`);
    return result.stdout.trim();
  }

  async function unitState(colour: SlotColour): Promise<Record<string, string>> {
    const shown = await onHost([
      "systemctl",
      "show",
      units[colour],
      "--property=LoadState,ActiveState,InvocationID,MainPID,User,NoNewPrivileges,ProtectSystem,MemoryMax",
    ]);
    return Object.fromEntries(
      shown.split("\n").map((line) => [line.split("=")[0], line.slice(line.indexOf("=") + 1)]),
    );
  }

  async function up(): Promise<void> {
    await stack?.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
  }

  before(async () => {
    host = await startSystemdHost({ sshPort: 2298, name: "switchyard-native-slots" });
    stack = await newNativeExampleStack(host, "example-psychichomily", ports, loopback);
  });

  after(async () => {
    if (stack) await teardownKeptStack(stack);
    await host?.stop();
  });

  it("deploys each slot as a hardened unit of the dedicated user, its binary checked, its secrets out of reach", async () => {
    await up();
    assert.deepEqual(await answersOnNewConnections(5, site), ["blue 1.12.0"]);
    for (const [colour, version] of [
      ["blue", "1.12.0"],
      ["green", "1.12.1"],
    ] as const) {
      const state = await unitState(colour);
      assert.equal(state.ActiveState, "active", colour);
      assert.equal(state.User, "psychichomily");
      assert.equal(state.NoNewPrivileges, "yes");
      assert.equal(state.ProtectSystem, "strict");
      assert.equal(state.MemoryMax, String(256 * 1024 * 1024));
      assert.equal(await onHost(["ps", "-o", "user=", "-p", state.MainPID]), "psychichomily");
      const release = `/opt/psychichomily/ph-stage-${colour}/releases/${version}-${sha256.slice(0, 12)}`;
      assert.equal((await onHost(["sha256sum", `${release}/app`])).split(" ")[0], sha256);
      assert.equal(
        await onHost(["stat", "-c", "%a %U", `/etc/switchyard/ph-stage-${colour}.env`]),
        "600 root",
      );
    }

    // The database is published on the host's loopback only, for the native slots.
    const bindings = JSON.parse(
      (
        await runChecked("docker", [
          "inspect",
          "--format",
          "{{json .HostConfig.PortBindings}}",
          "ph-stage-postgres",
        ])
      ).stdout,
    ) as Record<string, { HostIp: string; HostPort: string }[]>;
    assert.deepEqual(bindings, {
      "5432/tcp": [{ HostIp: "127.0.0.1", HostPort: String(loopback.database) }],
    });

    // The database password the units run with is in no process's arguments and not in the state in plain text.
    const envFile = await onHost(["cat", "/etc/switchyard/ph-stage-blue.env"]);
    const password = /DATABASE_URL="postgres:\/\/[^:]+:([^@]+)@127\.0\.0\.1:/.exec(envFile)?.[1];
    assert.ok(password && password.length >= 32, "the unit gets the database on its loopback port");
    assert.ok(!(await onHost(["ps", "-eo", "args"])).includes(password), "no argv holds it");
    assert.ok(!(await stack?.exportState())?.includes(password), "the state holds it only encrypted");
  });

  it("switches to the idle slot and back, only the router's upstream changing", async () => {
    for (const colour of ["green", "blue"] as const) {
      await stack?.pulumiChecked(["config", "set", "activeSlot", colour]);
      assert.deepEqual(await stack?.plannedChanges(), [upstream]);
      await up();
      assert.deepEqual(await answersOnNewConnections(5, site), [
        `${colour} ${colour === "blue" ? "1.12.0" : "1.12.1"}`,
      ]);
    }
  });

  it("releases the idle slot: its unit alone restarts, on the new release, the one before kept beside it", async () => {
    const before = { blue: await unitState("blue"), green: await unitState("green") };
    if (stack) updateStackFile(stack, { slots: { green: { binary, version: "1.12.2" } } });
    await up();
    assert.equal(
      (await unitState("blue")).InvocationID,
      before.blue.InvocationID,
      "the active slot keeps running",
    );
    assert.notEqual((await unitState("green")).InvocationID, before.green.InvocationID);
    assert.deepEqual((await onHost(["ls", "/opt/psychichomily/ph-stage-green/releases"])).split("\n"), [
      `1.12.1-${sha256.slice(0, 12)}`,
      `1.12.2-${sha256.slice(0, 12)}`,
    ]);
    assert.deepEqual(await answersOnNewConnections(5, site), ["blue 1.12.0"]);
    await stack?.pulumiChecked(["refresh", "--yes", "--skip-preview", "--run-program"]);
    await stack?.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("sees a unit stopped by hand on refresh, and the next update starts and gates it again", async () => {
    await onHost(["systemctl", "stop", units.green]);
    await stack?.pulumiChecked(["refresh", "--yes", "--skip-preview", "--run-program"]);
    const planned = (await stack?.plannedChanges()) ?? [];
    assert.ok(planned.includes("update ph-stage-app-green"), planned.join(", "));
    await up();
    assert.equal((await unitState("green")).ActiveState, "active");
    await stack?.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("moves a slot to a new directory only with its release, the old unit stopped first; the other stays where it was", async () => {
    const blue = await unitState("blue");
    const systemd = { user: "psychichomily", directory: "/opt/ph-moved" };
    if (stack) updateStackFile(stack, { app: { systemd } });
    const waiting = await stack?.pulumiChecked(["preview"]);
    assert.match(
      waiting?.stdout ?? "",
      /ph-stage-blue\.service keeps running its last release; the new app\.systemd/,
    );
    // Only the pins record the wanted settings; no unit changes before its slot is released.
    assert.deepEqual(await stack?.plannedChanges(), [
      "update ph-stage-app-blue-release",
      "update ph-stage-app-green-release",
    ]);

    if (stack) updateStackFile(stack, { slots: { green: { binary, version: "1.12.3" } } });
    await up();
    assert.equal(
      await onHost(["ls", "/opt/ph-moved/ph-stage-green/releases"]),
      `1.12.3-${sha256.slice(0, 12)}`,
    );
    assert.equal(
      await onHost(["sh", "-c", "ls /opt/psychichomily/ph-stage-green 2>/dev/null || echo gone"]),
      "gone",
      "the replaced slot's old directory went with its old unit",
    );
    assert.equal((await unitState("green")).ActiveState, "active");
    assert.equal(
      (await unitState("blue")).InvocationID,
      blue.InvocationID,
      "blue kept running in its directory",
    );
    assert.deepEqual(await answersOnNewConnections(5, site), ["blue 1.12.0"]);
  });

  it("destroy removes the units, their environment files and releases", async () => {
    if (stack) await teardownKeptStack(stack);
    stack = undefined;
    for (const colour of ["blue", "green"] as const)
      assert.equal((await unitState(colour)).LoadState, "not-found");
    assert.equal(
      await onHost([
        "sh",
        "-c",
        "ls /etc/switchyard /opt/psychichomily /opt/ph-moved 2>/dev/null | grep ph-stage || true",
      ]),
      "",
    );
  });
});
