import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Background, freePort, runChecked } from "./process";

/** A throwaway OpenSSH server on a loopback port that lets the current user in with one key. */
export interface SshServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The server's host key as a pinned line, `ssh-ed25519 AAAA...`. */
  readonly hostKey: string;
  /** Another valid host key line, which the server does not have. */
  readonly wrongHostKey: string;
  /** OpenSSH private key text that the server accepts for `user`. */
  readonly privateKey: string;
  /** A well-formed private key the server does not accept. */
  readonly unauthorizedPrivateKey: string;
  /** Everything sshd logged (it runs with `-e`), for assertions and failure messages. */
  readonly log: () => string;
  /** Kills the server and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

const sshdBinary = "/usr/sbin/sshd";

async function generateKey(file: string): Promise<{ privateKey: string; publicLine: string }> {
  await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "switchyard-test", "-f", file]);
  const [type, blob] = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ");
  return { privateKey: fs.readFileSync(file, "utf8"), publicLine: `${type} ${blob}` };
}

export async function startSshd(): Promise<SshServer> {
  if (!fs.existsSync(sshdBinary))
    throw new Error(`${sshdBinary} not found; install openssh-server to run these tests`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-sshd-"));
  let child: Background | undefined;
  const cleanup = () => {
    if (child?.running) child.child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  const stop = async () => {
    await child?.stop("SIGTERM", 2000);
    process.removeListener("exit", cleanup);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [host, wrongHost, user, stranger] = await Promise.all(
      ["host_ed25519", "wrong_host_ed25519", "user_ed25519", "stranger_ed25519"].map((name) =>
        generateKey(path.join(dir, name)),
      ),
    );
    fs.writeFileSync(path.join(dir, "authorized_keys"), `${user.publicLine}\n`, { mode: 0o600 });
    // sshd running as root separates privileges into a chroot it insists exists.
    if (process.getuid?.() === 0) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const port = await freePort();
    const configFile = path.join(dir, "sshd_config");
    fs.writeFileSync(
      configFile,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${path.join(dir, "host_ed25519")}`,
        `PidFile ${path.join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        // The temp directory is not laid out like a home directory; the keys are ours anyway.
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "AllowTcpForwarding yes",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    child = new Background(sshdBinary, ["-D", "-e", "-f", configFile], { cwd: dir });
    await child.waitForOutput(/Server listening on 127\.0\.0\.1 port/);
    const server = child;
    return {
      host: "127.0.0.1",
      port,
      user: os.userInfo().username,
      hostKey: host.publicLine,
      wrongHostKey: wrongHost.publicLine,
      privateKey: user.privateKey,
      unauthorizedPrivateKey: stranger.privateKey,
      log: () => server.output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
