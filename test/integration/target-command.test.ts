/**
 * The script @pulumi/command's `local.Command` runs for the migration job and the router
 * (components/target.ts `targetScript`), run by real bash: locally, and through the real ssh
 * client to a throwaway sshd that only the pinned host key may be.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { sshKeyVariable, type Target, targetScript } from "../../components/target";
import { delay } from "../support/process";
import { type SshServer, startSshd } from "../support/sshd";

const awkwardArguments = [
  "two words",
  "it's",
  '"double"',
  "$HOME",
  "`id`",
  "line one\nline two",
  "",
  "*",
  "; exit 3",
];

interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script the way @pulumi/command does: `/bin/bash -c <script>`, stdin piped, extra env. */
function runScript(
  script: string,
  options: { stdin?: string; env?: NodeJS.ProcessEnv; tmpdir: string },
): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/bash", ["-c", script], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: options.tmpdir, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/** The non-empty lines of the key's body, any one of which would betray it in a command line. */
function keyBodyLines(privateKey: string): string[] {
  return privateKey.split("\n").filter((line) => line && !line.startsWith("-----"));
}

function commandLinesOfAllProcesses(): string[] {
  return fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        return [fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")];
      } catch {
        return [];
      }
    });
}

describe("target command script", () => {
  let sshd: SshServer;
  let tmpdir: string;
  let target: Target;

  before(async () => {
    sshd = await startSshd();
    target = { kind: "ssh", user: sshd.user, host: sshd.host, port: sshd.port, hostKey: sshd.hostKey };
  });
  after(async () => {
    await sshd?.stop();
  });
  beforeEach(() => {
    tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-target-command-"));
  });
  afterEach(() => {
    fs.rmSync(tmpdir, { recursive: true, force: true });
  });

  const withKey = () => ({ [sshKeyVariable]: sshd.privateKey });

  it("runs the argv intact on a local target and forwards stdin", async () => {
    const local: Target = { kind: "local", dockerHost: "unix:///var/run/docker.sock" };
    const printed = await runScript(targetScript(local, ["printf", "%s\\0", ...awkwardArguments]), {
      tmpdir,
    });
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(printed.stdout.split("\0").slice(0, -1), awkwardArguments);
    const echoed = await runScript(targetScript(local, ["cat"]), { stdin: "from stdin\n", tmpdir });
    assert.equal(echoed.stdout, "from stdin\n");
  });

  it("runs the argv intact over ssh, with the remote exit code and stderr", async () => {
    const printed = await runScript(targetScript(target, ["printf", "%s\\0", ...awkwardArguments]), {
      env: withKey(),
      tmpdir,
    });
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(printed.stdout.split("\0").slice(0, -1), awkwardArguments);

    const failed = await runScript(targetScript(target, ["sh", "-c", "echo broken >&2; exit 5"]), {
      env: withKey(),
      tmpdir,
    });
    assert.equal(failed.code, 5);
    assert.match(failed.stderr, /broken/);
  });

  it("forwards stdin over ssh", async () => {
    const secretInput = "password=s3cr3t with spaces\nsecond line\n";
    const echoed = await runScript(targetScript(target, ["cat"]), {
      stdin: secretInput,
      env: withKey(),
      tmpdir,
    });
    assert.equal(echoed.code, 0, echoed.stderr);
    assert.equal(echoed.stdout, secretInput);
  });

  it("takes the key only from the environment, never from the script or a command line", async () => {
    const script = targetScript(target, ["sleep", "1.5"]);
    for (const line of keyBodyLines(sshd.privateKey)) assert.ok(!script.includes(line));

    const running = runScript(script, { env: withKey(), tmpdir });
    await delay(700);
    const commandLines = commandLinesOfAllProcesses();
    assert.ok(
      commandLines.some((line) => line.includes("sleep 1.5")),
      "the remote command was not running yet",
    );
    for (const line of keyBodyLines(sshd.privateKey))
      assert.ok(
        !commandLines.some((commandLine) => commandLine.includes(line)),
        "the key is in a command line",
      );
    assert.equal((await running).code, 0);

    const withoutKey = await runScript(script, { tmpdir });
    assert.notEqual(withoutKey.code, 0);
    assert.match(withoutKey.stderr, new RegExp(`${sshKeyVariable}: unbound variable`));
  });

  it("refuses a server whose host key is not the pinned one, and runs nothing there", async () => {
    const marker = path.join(tmpdir, "ran");
    const pinnedElsewhere: Target = { ...target, hostKey: sshd.wrongHostKey } as Target;
    const refused = await runScript(targetScript(pinnedElsewhere, ["touch", marker]), {
      env: withKey(),
      tmpdir,
    });
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.match(refused.stderr, /Host key verification failed/);
    assert.equal(fs.existsSync(marker), false);
  });

  it("refuses a key the server does not accept", async () => {
    const refused = await runScript(targetScript(target, ["true"]), {
      env: { [sshKeyVariable]: sshd.unauthorizedPrivateKey },
      tmpdir,
    });
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Permission denied \(publickey\)/);
  });

  it("removes its private key directory, after success and after failure", async () => {
    const ok = await runScript(targetScript(target, ["true"]), { env: withKey(), tmpdir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(fs.readdirSync(tmpdir), []);
    const pinnedElsewhere: Target = { ...target, hostKey: sshd.wrongHostKey } as Target;
    const refused = await runScript(targetScript(pinnedElsewhere, ["true"]), { env: withKey(), tmpdir });
    assert.equal(refused.code, 255);
    assert.deepEqual(fs.readdirSync(tmpdir), []);
  });
});
