/**
 * A VPS of our own for the production path: a network namespace with its own address on a veth
 * pair, a second Docker engine inside it, sshd with a throwaway host key and a `deploy` user in
 * that engine's group with a throwaway authorized key. Traffic goes only to it and to loopback.
 *
 * The namespace shares this machine's file system, so sshd points the deploy user's sessions at
 * the VPS engine's socket (`SetEnv DOCKER_HOST`), the way a real VPS's default socket would be.
 * The VPS pulls from the local registry through a forwarder on the host end of the veth pair.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { ImageName } from "../../../engine/images";
import { repoRoot } from "../../../engine/layout";
import { Background, delay, run, runChecked, type RunResult } from "../../support/process";
import { pinnedImage, projectFiles, TestStack } from "./engine";

const namespace = "switchyard-vps";
const hostLink = "syvps0";
const vpsLink = "syvps1";
const hostAddress = "10.203.0.1";
/** The VPS's address, as a stack file names it. */
export const vpsAddress = "10.203.0.2";
const deployUser = "sydeploy";
const dockerGroup = "syvpsdocker";
const localRegistry = "127.0.0.1:5000";
/** Where the VPS engine reaches the local registry. */
const vpsRegistry = `${hostAddress}:5000`;

/** A reference pushed to the local registry, under the name the VPS pulls it by. */
export function onVps(reference: string): string {
  return reference.replace(`${localRegistry}/`, `${vpsRegistry}/`);
}

export interface TestVps {
  readonly address: string;
  readonly user: string;
  /** The server's host key as a pinned line, `ssh-ed25519 AAAA...`. */
  readonly hostKey: string;
  /** A valid host key line the server does not have. */
  readonly wrongHostKey: string;
  /** OpenSSH private key text the server accepts for `user`. */
  readonly privateKey: string;
  /** A well-formed private key the server does not accept. */
  readonly unauthorizedPrivateKey: string;
  /** The VPS's own directory (its engine's data, its backups); nothing of it outlives `stop()`. */
  readonly root: string;
  /** A directory the deploy user owns, for snapshots. */
  readonly backups: string;
  /** `docker <args>` against the VPS engine, from this machine. */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The image `npm run engine` pushed, pinned by digest, under the name the VPS pulls it by. */
  image(name: ImageName): string;
  /** Restarts the VPS's Docker engine, as `systemctl restart docker` would on a VPS. */
  restartDocker(): Promise<void>;
  /** Everything sshd logged. */
  sshdLog(): string;
  /** Kills every SSH session's sshd process, as a network cut would end them; sshd keeps listening. */
  cutSshSessions(): Promise<void>;
  /** Stops everything and removes the namespace, the user, the group and the directory. */
  stop(): Promise<void>;
}

async function sh(argv: readonly string[]): Promise<void> {
  await runChecked(argv[0], argv.slice(1), { timeoutMs: 60_000 });
}

async function quietly(argv: readonly string[]): Promise<void> {
  await run(argv[0], argv.slice(1), { timeoutMs: 60_000 });
}

/** Whatever an earlier run left (a killed test process cannot clean up); safe when nothing is there. */
async function removeLeftovers(root: string | undefined): Promise<void> {
  const pids = await run("pgrep", ["-f", `${os.tmpdir()}/switchyard-vps-`]);
  for (const pid of pids.stdout.split("\n").filter(Boolean)) await quietly(["kill", "-9", pid]);
  await quietly(["ip", "netns", "delete", namespace]);
  await quietly(["ip", "link", "delete", hostLink]);
  await quietly(["userdel", "--remove", deployUser]);
  await quietly(["groupdel", dockerGroup]);
  for (const stale of fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith("switchyard-vps-"))) {
    const dir = path.join(os.tmpdir(), stale);
    if (dir !== root) await removeTree(dir);
  }
}

/** Removes a VPS directory, unmounting what a killed engine may have left mounted under it. */
async function removeTree(dir: string): Promise<void> {
  const mounts = fs
    .readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1])
    .filter((point) => point?.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const point of mounts) await quietly(["umount", "-l", point]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A throwaway ed25519 key pair at `file` and `file.pub`: the private key's text and the public `type blob` line. */
export async function keyPair(
  file: string,
  comment = "switchyard-vps",
): Promise<{ privateKey: string; publicLine: string }> {
  await sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  const [type, blob] = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ");
  return { privateKey: fs.readFileSync(file, "utf8"), publicLine: `${type} ${blob}` };
}

/** A TCP forwarder from `listen` to `target`, for the VPS engine's pulls. */
function forward(listenHost: string, listenPort: number, target: string): Promise<net.Server> {
  const [targetHost, targetPort] = target.split(":");
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), targetHost);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, listenHost, () => resolve(server));
  });
}

function inNamespace(argv: readonly string[]): [string, string[]] {
  // nsenter switches only the network namespace: `ip netns exec` also remounts /sys, which hides
  // the cgroup file systems dockerd needs.
  return ["nsenter", [`--net=/var/run/netns/${namespace}`, ...argv]];
}

export async function startVps(): Promise<TestVps> {
  if (process.getuid?.() !== 0) throw new Error("the test VPS needs root (network namespaces, users)");
  await removeLeftovers(undefined);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-vps-"));
  fs.chmodSync(root, 0o755);
  const socket = path.join(root, "docker.sock");
  const dockerHost = `unix://${socket}`;
  let dockerd: Background | undefined;
  let sshd: Background | undefined;
  let registry: net.Server | undefined;

  const docker = (args: readonly string[], timeoutMs = 120_000) =>
    run("docker", ["-H", dockerHost, ...args], { timeoutMs });

  const startDocker = async () => {
    const [command, args] = inNamespace([
      "/usr/sbin/dockerd",
      "--data-root",
      path.join(root, "docker"),
      "--exec-root",
      path.join(root, "docker-exec"),
      "--pidfile",
      path.join(root, "docker.pid"),
      "-H",
      dockerHost,
      "--group",
      dockerGroup,
      "--insecure-registry",
      vpsRegistry,
    ]);
    dockerd = new Background(command, args);
    for (let attempt = 0; (await docker(["version"], 10_000)).code !== 0; attempt++) {
      if (attempt > 120 || !dockerd.running)
        throw new Error(`the VPS engine did not start:\n${dockerd.output.slice(-3000)}`);
      await delay(500);
    }
  };

  const stop = async () => {
    if (dockerd?.running) {
      const containers = (await docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
      if (containers.length > 0) await docker(["rm", "-f", "-v", ...containers]);
      await dockerd.stop("SIGTERM", 30_000);
    }
    await sshd?.stop("SIGTERM", 5000);
    await new Promise<void>((resolve) => (registry ? registry.close(() => resolve()) : resolve()));
    await removeLeftovers(root);
    await removeTree(root);
  };

  try {
    await sh(["ip", "netns", "add", namespace]);
    await sh(["ip", "link", "add", hostLink, "type", "veth", "peer", "name", vpsLink]);
    await sh(["ip", "link", "set", vpsLink, "netns", namespace]);
    await sh(["ip", "address", "add", `${hostAddress}/24`, "dev", hostLink]);
    await sh(["ip", "link", "set", hostLink, "up"]);
    for (const argv of [
      ["ip", "address", "add", `${vpsAddress}/24`, "dev", vpsLink],
      ["ip", "link", "set", vpsLink, "up"],
      ["ip", "link", "set", "lo", "up"],
    ])
      await sh(["ip", "netns", "exec", namespace, ...argv]);

    await sh(["groupadd", dockerGroup]);
    await sh(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", dockerGroup, deployUser]);
    // A locked account (useradd's default) is refused by sshd even with a valid key.
    await sh(["usermod", "--password", "*", deployUser]);
    const backups = path.join(root, "backups");
    fs.mkdirSync(backups, { mode: 0o700 });
    await sh(["chown", deployUser, backups]);

    const keys = path.join(root, "keys");
    fs.mkdirSync(keys, { mode: 0o700 });
    const [host, wrongHost, user, stranger] = await Promise.all(
      ["host", "wrong_host", "user", "stranger"].map((name) => keyPair(path.join(keys, name))),
    );
    const home = `/home/${deployUser}`;
    fs.mkdirSync(`${home}/.ssh`, { mode: 0o700 });
    fs.writeFileSync(`${home}/.ssh/authorized_keys`, `${user.publicLine}\n`, { mode: 0o600 });
    await sh(["chown", "-R", `${deployUser}:${deployUser}`, `${home}/.ssh`]);

    registry = await forward(hostAddress, 5000, localRegistry);
    await startDocker();

    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const sshdConfig = path.join(keys, "sshd_config");
    fs.writeFileSync(
      sshdConfig,
      [
        `ListenAddress ${vpsAddress}:22`,
        `HostKey ${path.join(keys, "host")}`,
        `PidFile ${path.join(root, "sshd.pid")}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin no",
        `AllowUsers ${deployUser}`,
        "AllowTcpForwarding yes",
        `SetEnv DOCKER_HOST=${dockerHost}`,
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const [command, args] = inNamespace(["/usr/sbin/sshd", "-D", "-e", "-f", sshdConfig]);
    sshd = new Background(command, args);
    await sshd.waitForOutput(/Server listening on 10\.203\.0\.2 port 22/);
    const server = sshd;

    return {
      address: vpsAddress,
      user: deployUser,
      hostKey: host.publicLine,
      wrongHostKey: wrongHost.publicLine,
      privateKey: user.privateKey,
      unauthorizedPrivateKey: stranger.privateKey,
      root,
      backups,
      docker,
      image: (name) => onVps(pinnedImage(name)),
      restartDocker: async () => {
        await dockerd?.stop("SIGTERM", 60_000);
        await startDocker();
      },
      sshdLog: () => server.output,
      // Each session is a privileged monitor and, after authentication, a process of the user's
      // that holds the connection: both go, as they would if the network dropped it.
      cutSshSessions: async () => {
        await run("pkill", ["-KILL", "-f", `^sshd: ${deployUser}`]);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Keys of `Pulumi.stage.yaml` that reach services this machine cannot (GitHub, Netlify). */
const unreachableKeys = ["github", "githubToken", "pulumiAccessToken", "frontend", "netlifyToken"];

/**
 * A stage-shaped stack aimed at the test VPS: `Pulumi.stage.yaml` as committed, with the target
 * and its pinned host key, the images pinned by digest, the demo app's migrations, and shorter
 * stable windows; without GitHub and Netlify (not reachable here) and without the canary (a probe
 * then sees exactly one slot). The SSH key and the app secret are set as secrets.
 */
export async function newVpsStack(vps: TestVps, name = "vps"): Promise<TestStack> {
  const stage = parseYaml(fs.readFileSync(path.join(repoRoot, "Pulumi.stage.yaml"), "utf8")) as {
    config: Record<string, unknown>;
  };
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stage.config)) {
    const bare = key.replace(/^switchyard:/, "");
    if (!unreachableKeys.includes(bare) && !isSecret(value)) config[key] = value;
  }
  const overrides: Record<string, unknown> = {
    target: { host: `ssh://${vps.user}@${vps.address}`, hostKey: vps.hostKey },
    slots: {
      blue: { image: vps.image("demo-app"), version: "1.0.0" },
      green: { image: vps.image("demo-app"), version: "1.1.0" },
    },
    health: { stableForSeconds: 5, postSwitchStableForSeconds: 5 },
    database: { ...(config["switchyard:database"] as object), image: vps.image("postgres") },
    redis: { ...(config["switchyard:redis"] as object), image: vps.image("redis") },
    migrations: { image: vps.image("demo-app"), command: ["node", "migrate.js"], version: "002" },
    router: { ...(config["switchyard:router"] as object), image: vps.image("nginx"), canaryWeight: 0 },
    snapshots: { ...(config["switchyard:snapshots"] as object), directory: vps.backups },
  };
  for (const [key, value] of Object.entries(overrides)) config[`switchyard:${key}`] = value;
  const stack = new TestStack({ project: projectFiles, stack: name });
  fs.writeFileSync(path.join(stack.programDir, `Pulumi.${name}.yaml`), stringifyYaml({ config }));
  await stack.init({});
  await stack.setSecrets({ sshPrivateKey: vps.privateKey, "appSecrets.JWT_SECRET": plantedSecrets.jwt });
  return stack;
}

function isSecret(value: unknown): boolean {
  return typeof value === "object" && value !== null && "secure" in value;
}

/** Values set as secrets that must appear in plain text nowhere; made at run time, so no source file holds them. */
export const plantedSecrets = { jwt: `planted-jwt-${randomBytes(12).toString("hex")}` };
