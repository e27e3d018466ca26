/**
 * The production path for real: a stage-shaped stack deployed by `pulumi up` to a VPS of our own
 * (a network namespace with its own Docker engine and sshd, reached over SSH with a pinned host
 * key). Traffic comes from this machine to the router's address in the namespace.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { delay, run } from "../support/process";
import { pushRelease, type TestStack } from "./support/engine";
import { answersOnNewConnections, Probe, unexpected, whileProbing } from "./support/traffic";
import { newVpsStack, onVps, plantedSecrets, startVps, type TestVps } from "./support/vps";

/** One query as an operator runs it on the VPS, through the database container's socket; rows as text. */
async function shopSql(vps: TestVps, query: string): Promise<string> {
  const result = await vps.docker(["exec", "postgres", "psql", "-U", "shop", "-d", "shop", "-Atc", query]);
  assert.equal(result.code, 0, result.output);
  return result.stdout.trim();
}

/** Every container on the VPS with its id, image and start time: what any change would touch. */
async function vpsState(vps: TestVps): Promise<string> {
  return (
    await vps.docker(["ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.ID}} {{.Image}} {{.Status}}"])
  ).stdout
    .split("\n")
    .map((line) => line.replace(/ Up .*/, " Up"))
    .sort()
    .join("\n");
}

function acceptedLogins(vps: TestVps): number {
  return vps
    .sshdLog()
    .split("\n")
    .filter((line) => line.includes("Accepted publickey")).length;
}

/** OpenSSH's SHA256 fingerprint of a `type base64` public key line. */
function fingerprintOf(line: string): string {
  const blob = Buffer.from(line.split(" ")[1], "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** `npm run <script> -- <args> --stack <stack>` from the project, as the README and the workflows run it. */
function npmRun(stack: TestStack, script: string, args: string[]) {
  return run("npm", ["run", "--silent", script, "--", ...args, "--stack", stack.stack], {
    cwd: stack.programDir,
    env: stack.env,
    timeoutMs: 300_000,
  });
}

/**
 * Regular files under `dir` that others than their owner may read, skipping container file systems
 * (the images' own files) and anything over 20 MB.
 */
function readableFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (current: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory() && !["overlay2", "node_modules", "image", "containerd"].includes(entry.name))
        walk(full);
      else if (entry.isFile()) {
        const stat = fs.statSync(full, { throwIfNoEntry: false });
        if (stat && stat.size < 20 * 2 ** 20 && (stat.mode & 0o077) !== 0) files.push(full);
      }
    }
  };
  walk(dir);
  return files;
}

/** A file's text, or "" for one that cannot be read as a file (a kernel or runtime special file). */
function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, "latin1");
  } catch {
    return "";
  }
}

/** Key files written for the Docker provider's ssh that still hold `privateKey`. */
async function keyFilesLeft(privateKey: string): Promise<string[]> {
  const left = () =>
    fs
      .readdirSync(os.tmpdir())
      .filter((name) => name.startsWith("switchyard-ssh-"))
      .map((name) => path.join(os.tmpdir(), name, "key"))
      .filter((file) => fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() === privateKey.trim());
  // The watcher notices the command's end within a second.
  for (let attempt = 0; attempt < 10 && left().length > 0; attempt++) await delay(500);
  return left();
}

describe("the production path over SSH to a VPS in a network namespace", function () {
  this.timeout(900_000);
  let vps: TestVps;
  let stack: TestStack;
  let site: string;

  before(async () => {
    vps = await startVps();
    site = `http://${vps.address}/`;
    stack = await newVpsStack(vps);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
  });

  after(async () => {
    stack?.dispose();
    // Stopping the VPS removes whatever a failed test left on it.
    await vps?.stop();
  });

  it("deploys the stage shape to the VPS's engine and serves the active slot on its address", async () => {
    const running = (await vps.docker(["ps", "--format", "{{.Names}}"])).stdout.split("\n").filter(Boolean);
    assert.deepEqual(running.sort(), ["app-blue", "app-green", "postgres", "redis", "router"]);
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.1.0"]);
    assert.deepEqual(
      await keyFilesLeft(vps.privateKey),
      [],
      "the Docker provider's key files are gone after the run",
    );
  });

  it("refuses a wrong pinned host key before authenticating, naming both fingerprints, and changes nothing", async () => {
    const before = await vpsState(vps);
    const accepted = acceptedLogins(vps);
    await stack.pulumiChecked(["config", "set", "--path", "target.hostKey", vps.wrongHostKey]);
    // A change that would replace both slots, were the run to reach the VPS.
    await stack.pulumiChecked(["config", "set", "--path", "app.env.SY_UNREACHED", "yes"]);
    try {
      const refused = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, /host key mismatch, refusing to connect/);
      assert.ok(refused.output.includes(fingerprintOf(vps.hostKey)), "the server's fingerprint");
      assert.ok(refused.output.includes(fingerprintOf(vps.wrongHostKey)), "the pinned fingerprint");

      const snapshot = await npmRun(stack, "snapshot", ["list"]);
      assert.notEqual(snapshot.code, 0);
      assert.match(snapshot.output, /host key mismatch/);
      assert.ok(snapshot.output.includes(fingerprintOf(vps.hostKey)), snapshot.output);
      await stack.pulumiChecked(["config", "set", "--path", "target.hostKey", vps.hostKey]);
      assert.equal(acceptedLogins(vps), accepted, "no session was authenticated");

      await stack.setSecrets({ sshPrivateKey: vps.unauthorizedPrivateKey });
      const unauthorized = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
      assert.notEqual(unauthorized.code, 0);
      assert.match(unauthorized.output, /the server refused the key for user sydeploy/);
    } finally {
      await stack.pulumiChecked(["config", "set", "--path", "target.hostKey", vps.hostKey]);
      await stack.setSecrets({ sshPrivateKey: vps.privateKey });
      await stack.pulumiChecked(["config", "rm", "--path", "app.env.SY_UNREACHED"]);
    }
    assert.deepEqual(await vpsState(vps), before, "the VPS is as it was");
  });

  it("releases to the idle slot, then switches under keep-alive load, by the workflow's own script", async () => {
    const released = await whileProbing(new Probe(8, 20, site), async () => {
      const release = await npmRun(stack, "release", [
        "--image",
        vps.image("demo-app"),
        "--version",
        "1.2.0",
      ]);
      assert.equal(release.code, 0, release.output);
      assert.match(release.output, /release: blue \S+ \(1\.2\.0\)/);
    });
    assert.deepEqual(Object.keys(released), ["green 1.1.0"], JSON.stringify(released));

    const switched = await whileProbing(new Probe(16, 10, site), async () => {
      const release = await npmRun(stack, "release", ["--switch"]);
      assert.equal(release.code, 0, release.output);
    });
    assert.deepEqual(unexpected(switched, ["green 1.1.0", "blue 1.2.0"]), {}, JSON.stringify(switched));
    assert.deepEqual(await answersOnNewConnections(5, site), ["blue 1.2.0"]);
  });

  it("keeps traffic on the active slot when the idle slot's gate fails, and converges once fixed", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "health.deadlineSeconds", "20"]);
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", "1.3.0"]);
    await stack.setList("app.command", ["sh", "-c", "DATABASE_URL= exec node server.js"]);
    const seen = await whileProbing(new Probe(4, 20, site), async () => {
      const failed = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
      assert.notEqual(failed.code, 0, failed.output);
      assert.match(failed.output, /health gate for .*\(version 1\.3\.0\) failed/);
      assert.match(failed.output, /503/);
    });
    assert.deepEqual(Object.keys(seen), ["blue 1.2.0"], JSON.stringify(seen));

    await stack.pulumiChecked(["config", "rm", "--path", "app.command"]);
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.rollout", "1"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5, site), ["blue 1.2.0"]);
  });

  it("rolls back with exactly the switch, and refreshes with no drift", async () => {
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    assert.deepEqual(await stack.plannedChanges(), ["update router-upstream"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.3.0"]);

    // Plain `refresh` runs no program, so nothing writes the Docker provider's key files (README).
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview", "--run-program"], 600_000);
    await stack.pulumiChecked(["preview", "--expect-no-changes"], 600_000);
    assert.deepEqual(await keyFilesLeft(vps.privateKey), []);
  });

  it("shows no secret in plain text: not in the state, our -v=9 output, the process list or readable files", async () => {
    const revealed = JSON.parse(
      (await stack.pulumiChecked(["stack", "export", "--show-secrets"])).stdout,
    ) as {
      deployment: { resources: { type: string; outputs?: { result?: string } }[] };
    };
    const passwords = revealed.deployment.resources
      .filter((resource) => resource.type === "random:index/randomPassword:RandomPassword")
      .map((resource) => String(resource.outputs?.result));
    assert.equal(passwords.length, 2, "the database and Redis passwords");
    const keyBody = vps.privateKey.split("\n")[1];
    const secrets = {
      ...Object.fromEntries(passwords.map((p, i) => [`password ${i}`, p])),
      jwt: plantedSecrets.jwt,
      key: keyBody,
    };
    const found = (text: string) =>
      Object.keys(secrets).filter((name) => text.includes(secrets[name as keyof typeof secrets]));

    assert.deepEqual(found(await stack.exportState()), [], "pulumi stack export");

    await stack.pulumiChecked(["config", "set", "--path", "slots.blue.version", "1.4.0"]);
    const processes: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        processes.push((await run("ps", ["-eo", "args"])).stdout);
        await delay(200);
      }
    })();
    const release = await stack.pulumi(["up", "--yes", "--skip-preview", "-v=9", "--logtostderr"], 600_000);
    sampling = false;
    await sampler;
    assert.equal(release.code, 0, release.output.slice(-5000));
    assert.ok(release.output.length > 100_000, "-v=9 logged the engine's work");
    // Pulumi's engine itself traces every RPC property at -v=9, secrets included, though its docs
    // say level 10 and below avoid known credentials; everything else in the output is checked.
    const engineTrace = /"msg":"(Marshaling property for RPC|Unmarshaling property for RPC|Planner decided)/;
    const ours = release.output.split("\n").filter((line) => !engineTrace.test(line));
    assert.deepEqual(found(ours.join("\n")), [], "pulumi up -v=9, outside the engine's RPC trace");
    assert.ok(processes.length > 10);
    assert.deepEqual(found(processes.join("\n")), [], "the process list during the update");

    const exposed = [stack.dir, vps.root, `/home/${vps.user}`, os.tmpdir()]
      .flatMap((dir) => readableFiles(dir))
      .filter((file) => found(readOrEmpty(file)).length > 0);
    assert.deepEqual(exposed, [], "files readable by others that hold a secret");
  });

  it("snapshots over SSH before a new migration set, and the snapshot CLI lists and restores from this machine", async () => {
    const items = "SELECT string_agg(name || '=' || quantity, ',' ORDER BY name) FROM items";
    await shopSql(vps, "INSERT INTO items (name, quantity) VALUES ('bolt', 3), ('nut', 5)");
    const migrations = await pushRelease("demo-app", "vps-migrations-003", {
      "migrations/003_scale_quantities.sql": "UPDATE items SET quantity = quantity * 10;\n",
    });
    await stack.pulumiChecked(["config", "set", "--path", "migrations.image", onVps(migrations)]);
    await stack.pulumiChecked(["config", "set", "--path", "migrations.version", "003"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.equal(await shopSql(vps, items), "bolt=30,nut=50");

    const listed = await npmRun(stack, "snapshot", ["list"]);
    assert.equal(listed.code, 0, `${listed.output}\nsshd:\n${vps.sshdLog().slice(-3000)}`);
    const lastSnapshot = String((await stack.outputs()).lastSnapshot);
    assert.match(path.basename(lastSnapshot), /^switchyard\+vps\+.+\+003\.dump$/);
    assert.ok(listed.output.includes(path.basename(lastSnapshot)), listed.output);
    assert.equal(fs.statSync(lastSnapshot).mode & 0o777, 0o600, "the dump is private on the VPS");

    const restored = await npmRun(stack, "snapshot", ["restore", "latest"]);
    assert.equal(restored.code, 0, `${restored.output}\nsshd:\n${vps.sshdLog().slice(-3000)}`);
    assert.equal(await shopSql(vps, items), "bolt=3,nut=5");
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.3.0"]);
  });

  it("fails clearly when the SSH connections are cut mid-update, keeps traffic, and the next up converges", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "slots.blue.version", "1.5.0"]);
    const seen = await whileProbing(new Probe(4, 20, site), async () => {
      const startedAt = Date.now();
      const update = stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
      // Once the new blue container exists, its gate opens a session and holds the update for at
      // least the stable window: the cut lands inside it.
      let sessions = Infinity;
      for (let attempt = 0; attempt < 960; attempt++) {
        const created = await vps.docker(["inspect", "--format", "{{.Created}}", "app-blue"]);
        if (sessions === Infinity && created.code === 0 && Date.parse(created.stdout.trim()) > startedAt)
          sessions = acceptedLogins(vps);
        if (acceptedLogins(vps) > sessions) break;
        await delay(125);
      }
      await vps.cutSshSessions();
      const cut = await update;
      assert.notEqual(cut.code, 0, cut.output);
      assert.match(cut.output, /ssh sydeploy@10\.203\.0\.2:22.*(connection|closed|ended|refused)/i);
    });
    assert.deepEqual(Object.keys(seen), ["green 1.3.0"], JSON.stringify(seen));

    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    await stack.pulumiChecked(["preview", "--expect-no-changes"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5, site), ["green 1.3.0"]);
  });

  it("serves the same slot again after the VPS's Docker engine restarts, with nothing to refresh", async () => {
    const serving = await answersOnNewConnections(3, site);
    await vps.restartDocker();
    let answers: string[] = [];
    for (let attempt = 0; attempt < 120; attempt++) {
      answers = await answersOnNewConnections(1, site).catch(() => []);
      if (answers.length === 1 && !answers[0].startsWith("HTTP")) break;
      await delay(500);
    }
    assert.deepEqual(answers, serving);
    await stack.pulumiChecked(
      ["refresh", "--yes", "--skip-preview", "--run-program", "--expect-no-changes"],
      600_000,
    );
  });

  it("destroys over SSH as the README says, keeping the volume a new deploy then uses with its data", async () => {
    const refused = await stack.pulumi(["destroy", "--yes", "--skip-preview"], 600_000);
    assert.notEqual(refused.code, 0);
    assert.match(refused.output, /keep-data-outside-development.*cannot be deleted/);
    assert.equal((await vps.docker(["ps", "-q"])).stdout.trim().split("\n").length, 5, "nothing deleted");

    await stack.pulumiChecked(["state", "unprotect", "--all", "--yes"]);
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000);
    assert.equal((await vps.docker(["ps", "-aq"])).stdout.trim(), "");
    assert.equal((await vps.docker(["volume", "ls", "-q"])).stdout.trim(), "shop-pgdata");
    assert.deepEqual(await keyFilesLeft(vps.privateKey), []);

    // Deployed again on the kept volume, with a new generated password: the role gets it, and the
    // rows are still there.
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(3, site), ["green 1.3.0"]);
    assert.equal(await shopSql(vps, "SELECT count(*) FROM items"), "2");
    await stack.pulumiChecked(["state", "unprotect", "--all", "--yes"]);
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000);
  });
});
