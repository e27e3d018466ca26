/**
 * The test host of the `systemd` slot runtime works: reached over SSH with a pinned host key as
 * `deploy`, it runs `docker` against this machine's engine and `sudo` without a password, and a
 * native binary copied over SSH runs as a transient systemd unit (DynamicUser, ProtectSystem=strict)
 * listening on this machine's loopback.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { httpGet, runChecked, waitForHttp } from "../support/process";
import { layout } from "./support/engine";
import { startSystemdHost, type SystemdHost } from "./support/systemdHost";

const sshPort = 2299;
const appPort = 18997;
const unit = "native-app-e2e";
const databasePassword = "planted-password";

describe("systemd host (the systemd slot runtime's target)", function () {
  let host: SystemdHost | undefined;

  const ssh = (command: string, input?: string) => {
    assert.ok(host, "the host started");
    return host.ssh(command, input);
  };

  /** The TCP addresses `unit`'s main process listens on, read from /proc inside the host. */
  async function listeningAddresses(service: string): Promise<string[]> {
    const exec = async (argv: string[]) => {
      const result = await host?.exec(argv);
      assert.equal(result?.code, 0, `${argv.join(" ")}: ${result?.stderr}`);
      return result?.stdout ?? "";
    };
    const pid = (await exec(["systemctl", "show", "--property", "MainPID", "--value", service])).trim();
    const sockets = await exec(["find", `/proc/${pid}/fd`, "-lname", "socket:*", "-printf", "%l\n"]);
    const inodes = new Set(sockets.match(/\d+/g));
    const tables = await exec(["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
    return tables
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === "0A" && inodes.has(fields[9]))
      .map((fields) => {
        const [address, port] = fields[1].split(":");
        const ip =
          address.length === 8
            ? (address.match(/../g) ?? [])
                .reverse()
                .map((byte) => parseInt(byte, 16))
                .join(".")
            : `[${address}]`;
        return `${ip}:${parseInt(port, 16)}`;
      })
      .sort();
  }

  before(async function () {
    host = await startSystemdHost({ sshPort });
  });

  after(async function () {
    await host?.stop();
  });

  it("is reached as ssh://deploy@127.0.0.1:<port>, its key pinned, and sshd listens nowhere else", async function () {
    assert.equal(host?.target, `ssh://deploy@127.0.0.1:${sshPort}`);
    assert.match(host?.hostKey ?? "", /^ssh-ed25519 AAAA\S+$/);
    const login = await ssh("id -un");
    assert.equal(login.code, 0, login.output);
    assert.equal(login.stdout.trim(), "deploy");
    // The host shares this machine's network: port 22 here must stay free of its sshd.
    assert.deepEqual(await listeningAddresses("ssh.service"), [`127.0.0.1:${sshPort}`]);
    assert.equal((await host?.exec(["systemctl", "is-enabled", "ssh.socket"]))?.stdout.trim(), "masked");
  });

  it("runs docker against this machine's engine and sudo without a password", async function () {
    const local = await runChecked("docker", ["version", "--format", "{{.Server.Version}}"]);
    const remote = await ssh("docker version --format '{{.Server.Version}}'");
    assert.equal(remote.code, 0, remote.output);
    assert.equal(remote.stdout.trim(), local.stdout.trim());

    const state = await ssh("sudo -n systemctl is-system-running");
    assert.match(state.stdout.trim(), /^(running|degraded)$/, state.output);
  });

  it("runs a native binary copied over SSH as a transient unit, listening on this machine's loopback", async function () {
    const binary = path.join(layout.bin, "native-app");
    assert.ok(fs.existsSync(binary), `${binary} is missing: run npm run engine first`);
    const copied = await ssh(
      "cat > /tmp/native-app && sudo -n install -D -m 0755 /tmp/native-app /opt/native-app/native-app && rm /tmp/native-app",
      binary,
    );
    assert.equal(copied.code, 0, copied.output);

    // DynamicUser implies PrivateTmp: the unit would not see /tmp/native-app, hence /opt.
    const started = await ssh(
      [
        "sudo -n systemd-run",
        `--unit ${unit}`,
        "--property DynamicUser=yes",
        "--property ProtectSystem=strict",
        "--property NoNewPrivileges=yes",
        `--setenv PORT=${appPort}`,
        "--setenv APP_VERSION=9.9.9",
        "--setenv SLOT=blue",
        `--setenv DATABASE_URL=postgres://u:${databasePassword}@127.0.0.1:1/d`,
        "/opt/native-app/native-app",
      ].join(" "),
    );
    assert.equal(started.code, 0, started.output);

    const root = await waitForHttp(`http://127.0.0.1:${appPort}/`, (res) => res.status === 200, 30_000);
    assert.equal(root.body, "native-app 9.9.9 blue\n");
    const health = await httpGet(`http://127.0.0.1:${appPort}/health`);
    assert.equal(health.status, 503, health.body);
    assert.deepEqual(JSON.parse(health.body), {
      status: "unhealthy",
      version: "9.9.9",
      slot: "blue",
      database: "unreachable",
    });

    // Stopped by systemd's SIGTERM, it shuts down gracefully; it never logged the database URL.
    const stopped = await ssh(`sudo -n systemctl stop ${unit}`);
    assert.equal(stopped.code, 0, stopped.output);
    const journal = await host?.exec(["journalctl", "--no-pager", "--output", "cat", "--unit", unit]);
    assert.match(
      journal?.stdout ?? "",
      /native-app: listening on 127\.0\.0\.1:18997[\s\S]*native-app: shutting down\nnative-app: stopped\n/,
    );
    assert.doesNotMatch(journal?.stdout ?? "", new RegExp(databasePassword));
  });
});
