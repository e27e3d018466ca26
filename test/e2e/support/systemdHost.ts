/**
 * A host run by systemd, for the `systemd` slot runtime: the `systemd-host` image `npm run engine`
 * built (Debian, systemd, sshd, sudo, the Docker CLI) booted as a container in this machine's
 * network, so a unit it runs listens on this machine's loopback, where the router (also in the
 * host's network) reaches it.
 *
 * - systemd boots without `--privileged` (refused here): SYS_ADMIN, no seccomp filter, the host's
 *   cgroup namespace and /sys/fs/cgroup, tmpfs on /run and /run/lock.
 * - sshd listens only on 127.0.0.1:<sshPort>, with a throwaway ed25519 host key made per start;
 *   the image enables no sshd of its own, so nothing takes port 22 of this machine.
 * - `deploy` logs in with a throwaway key, has passwordless sudo, and is in a group whose gid is
 *   that of the engine's socket, mounted at the default path: `docker` over SSH is this engine.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strictSshOptions } from "../../../components/target";
import { delay, run, runChecked, type RunResult } from "../../support/process";
import { layout, type OwnPorts, pinnedImage, type TestStack } from "./engine";
import { newExampleStack } from "./examples";
import { keyPair } from "./vps";

export interface SystemdHost {
  /** `ssh://deploy@127.0.0.1:<port>` */
  readonly target: string;
  /** The host's key as a pinned line, `ssh-ed25519 AAAA...`. */
  readonly hostKey: string;
  /** OpenSSH private key text the host accepts for `deploy`. */
  readonly privateKey: string;
  /** Runs argv inside the host container as root (docker exec), returns stdout/stderr/code. */
  exec(argv: readonly string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  /** Runs `command` as the deploy user over SSH, the host key pinned; standard input from the file `input`, if given. */
  ssh(command: string, input?: string): Promise<RunResult>;
  /** Removes the container and the host's key files; idempotent. */
  stop(): Promise<void>;
}

const defaultName = "switchyard-systemd-host";
const deployUser = "deploy";
/** Where the engine's socket is mounted inside the host: Docker's default, so no DOCKER_HOST is needed there. */
const socketInHost = "/var/run/docker.sock";
/**
 * Where the host's configuration is copied before it is installed: the container's own file system
 * (docker cp cannot write into a tmpfs, and trixie's /tmp is one).
 */
const setupDir = "/var/tmp/switchyard-setup";
const bootTimeoutMs = 120_000;
const sshTimeoutMs = 60_000;

/** The socket of the engine the tests use: DOCKER_HOST's, or Docker's default (engine/dockerd.ts). */
function engineSocket(): string {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost === undefined || dockerHost === "") return "/var/run/docker.sock";
  if (!dockerHost.startsWith("unix://"))
    throw new Error(`the systemd host mounts the engine's socket; DOCKER_HOST=${dockerHost} is not one`);
  return dockerHost.slice("unix://".length);
}

/** The keys directory of a host named `name`: a killed run's is found by the same prefix. */
function keysPrefix(name: string): string {
  return path.join(os.tmpdir(), `${name}.keys-`);
}

/** Whatever a killed run left under this name: its container and its key files. */
async function removeLeftovers(name: string): Promise<void> {
  await run("docker", ["rm", "--force", "--volumes", name], { timeoutMs: 60_000 });
  const prefix = path.basename(keysPrefix(name));
  for (const stale of fs.readdirSync(os.tmpdir()).filter((entry) => entry.startsWith(prefix)))
    fs.rmSync(path.join(os.tmpdir(), stale), { recursive: true, force: true });
}

/** The sshd drop-in: one listener, one host key, keys only, deploy only. */
function sshdConfig(sshPort: number): string {
  return [
    `ListenAddress 127.0.0.1:${sshPort}`,
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    `AllowUsers ${deployUser}`,
    "LogLevel VERBOSE",
    "",
  ].join("\n");
}

/**
 * Runs as root in the host once systemd is up: the deploy user in a group with the socket's gid
 * (an existing group with that gid, or `hostdocker`), its key, sudo, the host key, then sshd.
 */
function setupScript(socketGid: number): string {
  return `
set -eu
cd ${setupDir}
group=$(getent group ${socketGid} | cut -d: -f1)
if [ -z "$group" ]; then groupadd --gid ${socketGid} hostdocker; group=hostdocker; fi
useradd --create-home --shell /bin/bash --groups "$group" ${deployUser}
# A locked account (useradd's default) is refused by sshd even with a valid key.
usermod --password '*' ${deployUser}
install -d -m 700 -o ${deployUser} -g ${deployUser} /home/${deployUser}/.ssh
install -m 600 -o ${deployUser} -g ${deployUser} user.pub /home/${deployUser}/.ssh/authorized_keys
install -m 600 host /etc/ssh/ssh_host_ed25519_key
install -m 644 host.pub /etc/ssh/ssh_host_ed25519_key.pub
install -m 644 sshd.conf /etc/ssh/sshd_config.d/switchyard.conf
install -m 440 sudoers /etc/sudoers.d/${deployUser}
visudo --check --quiet --file /etc/sudoers.d/${deployUser}
cd / && rm -rf ${setupDir}
systemctl enable --now ssh.service
`;
}

export async function startSystemdHost(options: { sshPort: number; name?: string }): Promise<SystemdHost> {
  const name = options.name ?? defaultName;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new Error(`${name} is not a container name`);
  if (!Number.isInteger(options.sshPort) || options.sshPort < 1 || options.sshPort > 65535)
    throw new Error(`${options.sshPort} is not a port`);
  const socket = engineSocket();
  if (!fs.existsSync(socket) || !fs.statSync(socket).isSocket())
    throw new Error(`${socket} is not the engine's socket: run npm run engine first`);
  const image = pinnedImage("systemd-host");
  await removeLeftovers(name);

  const keys = fs.mkdtempSync(keysPrefix(name));
  let container: string | undefined;
  let stopped = false;

  const exec = async (argv: readonly string[], timeoutMs = 120_000) => {
    if (container === undefined) throw new Error(`the systemd host ${name} is not running`);
    const result = await run("docker", ["exec", container, ...argv], { timeoutMs });
    return { stdout: result.stdout, stderr: result.stderr, code: result.code ?? -1 };
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (container !== undefined) {
      // systemd stops its units on SIGRTMIN+3 (the image's STOPSIGNAL); whatever is left is killed.
      await run("docker", ["stop", "--time", "20", container], { timeoutMs: 60_000 });
      await run("docker", ["rm", "--force", "--volumes", container], { timeoutMs: 60_000 });
    }
    fs.rmSync(keys, { recursive: true, force: true });
  };

  /** The last lines `unit` logged, for a failure message. */
  const journal = async (unit: string) =>
    (await exec(["journalctl", "--boot", "--no-pager", "--lines", "60", "--unit", unit])).stdout;

  try {
    const [host, user] = await Promise.all([
      keyPair(path.join(keys, "host"), `${name}-host`),
      keyPair(path.join(keys, "user"), `${name}-${deployUser}`),
    ]);
    const setup = path.join(keys, "setup");
    fs.mkdirSync(setup);
    fs.copyFileSync(path.join(keys, "host"), path.join(setup, "host"));
    fs.writeFileSync(path.join(setup, "host.pub"), `${host.publicLine}\n`);
    fs.writeFileSync(path.join(setup, "user.pub"), `${user.publicLine}\n`);
    fs.writeFileSync(path.join(setup, "sshd.conf"), sshdConfig(options.sshPort));
    fs.writeFileSync(path.join(setup, "sudoers"), `${deployUser} ALL=(root) NOPASSWD: ALL\n`);

    container = (
      await runChecked(
        "docker",
        [
          "run",
          "--detach",
          "--name",
          name,
          "--network",
          "host",
          "--cap-add",
          "SYS_ADMIN",
          "--security-opt",
          "seccomp=unconfined",
          "--cgroupns",
          "host",
          "--volume",
          "/sys/fs/cgroup:/sys/fs/cgroup",
          "--tmpfs",
          "/run",
          "--tmpfs",
          "/run/lock",
          "--volume",
          `${socket}:${socketInHost}`,
          image,
        ],
        { timeoutMs: 120_000 },
      )
    ).stdout.trim();

    await waitForBoot(exec, name);
    await runChecked("docker", ["cp", setup, `${container}:${setupDir}`], { timeoutMs: 60_000 });
    const configured = await exec(["sh", "-c", setupScript(fs.statSync(socket).gid)]);
    if (configured.code !== 0)
      throw new Error(
        `configuring ${name} failed (${configured.code}): ${configured.stderr}\n${await journal("ssh.service")}`,
      );

    const knownHosts = path.join(keys, "known_hosts");
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${options.sshPort} ${host.publicLine}\n`);
    const ssh = (command: string, input?: string): Promise<RunResult> => {
      const argv = [
        "ssh",
        "-p",
        String(options.sshPort),
        ...strictSshOptions(path.join(keys, "user"), knownHosts),
        "-o",
        "ConnectTimeout=5",
        `${deployUser}@127.0.0.1`,
        command,
      ];
      return input === undefined
        ? run(argv[0], argv.slice(1), { timeoutMs: 60_000 })
        : run("sh", ["-c", 'input=$1; shift; exec "$@" < "$input"', "-", input, ...argv], {
            timeoutMs: 60_000,
          });
    };
    const deadline = Date.now() + sshTimeoutMs;
    for (;;) {
      const login = await ssh("true");
      if (login.code === 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `sshd of ${name} did not accept the deploy key on 127.0.0.1:${options.sshPort}: ${login.stderr}\n${await journal("ssh.service")}`,
        );
      await delay(500);
    }

    return {
      target: `ssh://${deployUser}@127.0.0.1:${options.sshPort}`,
      hostKey: host.publicLine,
      privateKey: user.privateKey,
      exec: (argv) => exec(argv),
      ssh,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Waits until systemd says `running`, or `degraded` (then the failed units are printed: a test
 * host may not need them, but whoever reads the output should know).
 */
async function waitForBoot(
  exec: (argv: readonly string[]) => Promise<{ stdout: string; stderr: string; code: number }>,
  name: string,
): Promise<void> {
  const deadline = Date.now() + bootTimeoutMs;
  let state = "";
  for (;;) {
    state = (await exec(["systemctl", "is-system-running"])).stdout.trim();
    if (state === "running") return;
    if (state === "degraded") {
      const failed = await exec(["systemctl", "--failed", "--no-pager", "--no-legend"]);
      console.warn(`${name} booted degraded; failed units:\n${failed.stdout}`);
      return;
    }
    if (state === "maintenance" || state === "stopping" || Date.now() > deadline) {
      const journal = await exec(["journalctl", "--boot", "--no-pager", "--lines", "80"]);
      throw new Error(
        `${name}: systemd is ${state || "not answering"} after ${(bootTimeoutMs / 1000).toString()} s\n${journal.stdout}`,
      );
    }
    await delay(500);
  }
}

/** Where the native example's snapshots go on the host, owned by its deploy user. */
const nativeBackups = "/var/backups/ph-native";

/**
 * Psychic Homily's stage file (`examples/stacks/psychic-homily`) as stack `name`, aimed at `host`:
 * both slots run `native-app` (`npm run engine` builds it) at the file's versions, the data stores
 * publish `dataPorts` on loopback, snapshots go to a directory of the deploy user's.
 */
export async function newNativeExampleStack(
  host: SystemdHost,
  name: string,
  ports: OwnPorts,
  dataPorts: { database: number; redis: number },
): Promise<TestStack> {
  const setUp = await host.exec(["install", "-d", "-o", deployUser, "-m", "0750", nativeBackups]);
  if (setUp.code !== 0) throw new Error(`creating ${nativeBackups} on the host: ${setUp.stderr}`);
  const binary = path.join(layout.bin, "native-app");
  const { stack } = await newExampleStack("psychic-homily", "Pulumi.stage.yaml", name, ports, {
    target: { host: host.target, hostKey: host.hostKey },
    slots: { blue: { binary, version: "1.12.0" }, green: { binary, version: "1.12.1" } },
    database: { loopbackPort: dataPorts.database },
    redis: { loopbackPort: dataPorts.redis },
    snapshots: { directory: nativeBackups },
  });
  await stack.setSecrets({ sshPrivateKey: host.privateKey });
  return stack;
}
