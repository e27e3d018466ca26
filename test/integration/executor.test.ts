/**
 * The executor every dynamic provider works through, locally and over a real SSH connection
 * to a throwaway sshd: what goes in arrives intact, what comes out is complete, and a server
 * that is not the pinned one is never talked to.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { Readable, Writable } from "node:stream";
import {
  type Executor,
  type ExecutorSpec,
  executorSpecFor,
  isCommandFailed,
  openExecutor,
  runChecked,
  withExecutor,
} from "../../components/providers/executor";
import { delay, httpGet, run } from "../support/process";
import { Server as SshServer, type ServerChannel, utils as sshUtils } from "ssh2";
import { type SshServer as Sshd, startSshd } from "../support/sshd";

const awkwardArguments = [
  "two words",
  "it's",
  '"double"',
  "$HOME",
  "`id`",
  "$(touch /tmp/switchyard-injected)",
  "line one\nline two",
  "",
  "*",
  "back\\slash",
  "; exit 3",
  "--",
  "-n",
  "tab\there",
  "ünïcödé ✓",
];

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Whether a process whose command line contains `marker` is running. */
async function processRunning(marker: string): Promise<boolean> {
  const found = await run("pgrep", ["-f", marker]);
  return found.code === 0;
}

/**
 * How long a process or connection may take to go away on a busy machine. `eventually` returns
 * as soon as it has, so this costs nothing when it works; each command a test waits on this way
 * would on its own outlive it by far, so a command that is never stopped still fails the test.
 */
const settleMs = 20_000;

/** Waits up to `timeoutMs` for `condition`; returns whether it held. */
async function eventually(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await delay(100);
  }
  return condition();
}

/**
 * An SSH server in this process that accepts any key and answers every exec with `answer`,
 * reached through a proxy that passes on what the server sends only once it has been quiet for
 * 50 ms: the client then reads a whole answer (the exec's reply, the output, the exit status and
 * the channel's close) as one chunk, as it can from a busy server.
 */
async function burstingServer(
  answer: (channel: ServerChannel) => void,
): Promise<{ spec: { host: string; port: number; hostKey: string }; close: () => Promise<void> }> {
  const hostKey = sshUtils.generateKeyPairSync("ed25519");
  const server = new SshServer({ hostKeys: [hostKey.private] }, (client) => {
    client.on("authentication", (context) => context.accept());
    client.on("ready", () =>
      client.on("session", (accept) => accept().on("exec", (acceptExec) => answer(acceptExec()))),
    );
    client.on("error", () => {});
  });
  const proxy = net.createServer((socket) => {
    const upstream = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    let pending: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const flush = () => {
      if (pending.length > 0 && socket.writable) socket.write(Buffer.concat(pending));
      pending = [];
    };
    upstream.on("data", (chunk: Buffer) => {
      pending.push(chunk);
      clearTimeout(quiet);
      quiet = setTimeout(flush, 50);
    });
    upstream.on("close", () => {
      clearTimeout(quiet);
      flush();
      socket.end();
    });
    socket.pipe(upstream);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
  });
  const listen = (listener: net.Server) =>
    new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  await Promise.all([listen(server), listen(proxy)]);
  return {
    spec: {
      host: "127.0.0.1",
      port: (proxy.address() as net.AddressInfo).port,
      hostKey: hostKey.public.split(" ").slice(0, 2).join(" "),
    },
    close: async () => {
      await Promise.all([server, proxy].map((listener) => new Promise((resolve) => listener.close(resolve))));
    },
  };
}

describe("executor", () => {
  let sshd: Sshd;
  let dir: string;

  before(async () => {
    sshd = await startSshd();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-executor-"));
  });

  after(async () => {
    await sshd?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function sshSpec(overrides: Partial<Extract<ExecutorSpec, { kind: "ssh" }>> = {}): ExecutorSpec {
    return {
      kind: "ssh",
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      hostKey: sshd.hostKey,
      privateKey: sshd.privateKey,
      ...overrides,
    };
  }

  const variants: { name: string; spec: () => ExecutorSpec; description: () => string }[] = [
    { name: "local", spec: () => ({ kind: "local" }), description: () => "local" },
    { name: "ssh", spec: () => sshSpec(), description: () => `ssh ${sshd.user}@127.0.0.1:${sshd.port}` },
  ];

  for (const variant of variants) {
    describe(variant.name, () => {
      let executor: Executor;
      before(async () => {
        executor = await openExecutor(variant.spec());
      });
      after(async () => {
        await executor?.close();
      });

      it("describes itself without secrets", () => {
        assert.equal(executor.description, variant.description());
      });

      it("passes awkward arguments through intact, none of them interpreted", async () => {
        fs.rmSync("/tmp/switchyard-injected", { force: true });
        const result = await executor.run(["printf", "%s\\0", ...awkwardArguments]);
        assert.equal(result.exitCode, 0, result.stderr);
        assert.deepEqual(result.stdout.split("\0").slice(0, -1), awkwardArguments);
        assert.equal(fs.existsSync("/tmp/switchyard-injected"), false);
      });

      it("reports exit codes and stderr as a result, not a throw", async () => {
        const result = await executor.run(["sh", "-c", 'echo out; echo "went wrong" >&2; exit 7']);
        assert.deepEqual(result, { exitCode: 7, stdout: "out\n", stderr: "went wrong\n" });
      });

      it("reports a killed command the way a shell does", async () => {
        const result = await executor.run(["sh", "-c", "kill -TERM $$"]);
        assert.equal(result.exitCode, 128 + os.constants.signals.SIGTERM);
      });

      it("reports a missing program as exit 127", async () => {
        const result = await executor.run(["switchyard-no-such-program", "x"]);
        assert.equal(result.exitCode, 127);
        assert.match(result.stderr, /switchyard-no-such-program: (command )?not found/);
      });

      it("forwards stdin from a string, a buffer and a stream, and gives EOF when there is none", async () => {
        const binary = randomBytes(64 * 1024);
        assert.equal((await executor.run(["cat"], { stdin: "hello\nworld" })).stdout, "hello\nworld");
        const fromBuffer = await executor.run(["sha256sum"], { stdin: binary });
        assert.equal(fromBuffer.stdout.split(" ")[0], sha256(binary));
        const fromStream = await executor.run(["wc", "-c"], { stdin: Readable.from(["a", "bc", "def"]) });
        assert.equal(fromStream.stdout.trim(), "6");
        assert.deepEqual(await executor.run(["cat"], { timeoutMs: 10_000 }), {
          exitCode: 0,
          stdout: "",
          stderr: "",
        });
      });

      it("streams 50 MB of stdout to a file intact", async () => {
        const source = path.join(dir, `source-${variant.name}`);
        const copy = path.join(dir, `copy-${variant.name}`);
        fs.writeFileSync(source, randomBytes(50 * 1024 * 1024));
        const result = await executor.run(["head", "-c", String(50 * 1024 * 1024), source], {
          stdout: fs.createWriteStream(copy),
        });
        assert.deepEqual(result, { exitCode: 0, stdout: "", stderr: "" });
        assert.equal(fs.statSync(copy).size, 50 * 1024 * 1024);
        assert.equal(await fileSha256(copy), await fileSha256(source));
      });

      it("hands stdout over as it comes and waits for a slow consumer instead of buffering", async () => {
        // The command finishes only after the consumer has seen its first megabyte, so an
        // executor that held output back until exit would run into the timeout.
        const go = path.join(dir, `go-${variant.name}`);
        let received = 0;
        let mostQueued = 0;
        const slow = new Writable({
          highWaterMark: 64 * 1024,
          write(chunk: Buffer, _encoding, done) {
            if (received === 0) fs.writeFileSync(go, "");
            received += chunk.length;
            mostQueued = Math.max(mostQueued, slow.writableLength);
            setTimeout(done, 1);
          },
        });
        const script = `head -c 1048576 /dev/zero; while [ ! -e ${go} ]; do sleep 0.05; done; head -c 7340032 /dev/zero`;
        const result = await executor.run(["sh", "-c", script], { stdout: slow, timeoutMs: 30_000 });
        assert.equal(result.exitCode, 0, result.stderr);
        assert.equal(received, 8 * 1024 * 1024);
        assert.ok(mostQueued <= 1024 * 1024, `${mostQueued} bytes queued in the consumer`);
      });

      it("stops the command and fails the run when its output cannot be written", async () => {
        const full = new Writable({
          write(_chunk, _encoding, done) {
            done(new Error("ENOSPC: no space left on device"));
          },
        });
        // The timeout (over ssh also the remote `timeout` that would kill cat) lies far beyond
        // settleMs: cat is gone in time only if the failed write stopped it.
        await assert.rejects(
          executor.run(["cat", "/dev/zero"], { stdout: full, timeoutMs: 2 * settleMs }),
          new RegExp(
            `^Error: output of cat on ${executor.description} could not be written: ENOSPC: no space left on device$`,
          ),
        );
        assert.equal(await eventually(async () => !(await processRunning("cat /dev/zero")), settleMs), true);
      });

      it("kills a command that outlives its timeout", async () => {
        // Seconds to sleep, unique to this run and variant: more than twice settleMs, so neither
        // the run's end nor the process's can come from the command ending by itself.
        const marker = `${variant.name === "ssh" ? 45 : 46}.${process.pid}`;
        const started = Date.now();
        await assert.rejects(executor.run(["sleep", marker], { timeoutMs: 300 }), (error: Error) => {
          assert.equal(error.name, "CommandTimedOut");
          assert.equal(
            error.message,
            `sleep did not finish within 300 ms on ${executor.description} and was killed`,
          );
          return true;
        });
        const waitedMs = Date.now() - started;
        assert.ok(
          waitedMs < settleMs,
          `the run gives up at its timeout, not when the command ends; it took ${waitedMs} ms`,
        );
        assert.equal(
          await eventually(async () => !(await processRunning(`sleep ${marker}`)), settleMs),
          true,
          "the command was killed",
        );
        assert.equal((await executor.run(["echo", "still usable"])).stdout, "still usable\n");
      });

      it("runChecked names the command, its exit code and the last 20 lines of stderr", async () => {
        const script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 4";
        await assert.rejects(runChecked(executor, ["sh", "-c", script]), (error: unknown) => {
          assert.ok(isCommandFailed(error));
          const lines = Array.from({ length: 20 }, (_, index) => `line${index + 11}`);
          assert.equal(error.message, `sh exited with 4 on ${executor.description}:\n${lines.join("\n")}`);
          assert.equal(error.result.exitCode, 4);
          return true;
        });
        assert.deepEqual(await runChecked(executor, ["true"]), { exitCode: 0, stdout: "", stderr: "" });
      });

      it("reaches a TCP service on the target through forward()", async () => {
        const server = http.createServer((_req, res) => res.end("through the tunnel"));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as { port: number };
        try {
          const forwarded = await executor.forward("127.0.0.1", port);
          if (variant.name === "local")
            assert.deepEqual([forwarded.host, forwarded.port], ["127.0.0.1", port]);
          else assert.notEqual(forwarded.port, port);
          const responses = await Promise.all(
            [1, 2, 3].map(() => httpGet(`http://${forwarded.host}:${forwarded.port}/`)),
          );
          assert.deepEqual(
            responses.map((response) => response.body),
            ["through the tunnel", "through the tunnel", "through the tunnel"],
          );
          await forwarded.close();
          if (variant.name === "ssh")
            await assert.rejects(httpGet(`http://${forwarded.host}:${forwarded.port}/`), /ECONNREFUSED/);
        } finally {
          server.close();
        }
      });
    });
  }

  describe("ssh refusals", () => {
    /** sshd's log since `mark`, to see what a refused client got to do. */
    function logSince(mark: number): string {
      return sshd.log().slice(mark);
    }

    /**
     * What sshd logged about the one connection opened since `mark`, once it has logged that
     * connection's end, so an assertion about what is not there reads the whole story. The
     * lines are those naming the connection's client port; the last one is its end.
     */
    async function connectionLog(mark: number): Promise<string[]> {
      const deadline = Date.now() + settleMs;
      for (;;) {
        // Whole lines only (sshd ends them with CRLF): the last piece may be one still being written.
        const lines = logSince(mark).split(/\r?\n/).slice(0, -1);
        const port = lines
          .map((line) => /^Connection from \S+ port (\d+) on /.exec(line)?.[1])
          .find((found) => found !== undefined);
        if (port !== undefined) {
          const own = lines.filter((line) => new RegExp(` port ${port}\\b`).test(line));
          const end = own.findIndex((line) =>
            /^(?:Disconnected from|Connection (?:closed|reset) by) /.test(line),
          );
          if (end !== -1) return own.slice(0, end + 1);
        }
        if (Date.now() > deadline) {
          throw new Error(`sshd logged no end of the connection within ${settleMs} ms:\n${logSince(mark)}`);
        }
        await delay(50);
      }
    }

    it("refuses a server whose host key is not the pinned one, before authenticating", async () => {
      const mark = sshd.log().length;
      const fingerprint = async (line: string) => {
        const file = path.join(dir, "key.pub");
        fs.writeFileSync(file, `${line}\n`);
        return (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", file])).stdout.split(" ")[1];
      };
      const expected = await fingerprint(sshd.wrongHostKey);
      const presented = await fingerprint(sshd.hostKey);
      await assert.rejects(openExecutor(sshSpec({ hostKey: sshd.wrongHostKey })), (error: Error) => {
        assert.equal(
          error.message,
          `ssh ${sshd.user}@127.0.0.1:${sshd.port}: host key mismatch, refusing to connect. ` +
            `Pinned ssh-ed25519 ${expected}, server presented ssh-ed25519 ${presented}. ` +
            "If the server's key really changed, update the pinned hostKey.",
        );
        return true;
      });
      const logged = await connectionLog(mark);
      assert.match(logged[logged.length - 1], /\[preauth\]$/, logged.join("\n"));
      assert.doesNotMatch(logged.join("\n"), /Accepted|session|Starting/i);
    });

    it("refuses a host key line that is not a public key", async () => {
      await assert.rejects(
        openExecutor(sshSpec({ hostKey: "ssh-ed25519 bm90IGEga2V5" })),
        /hostKey must be a public key line like `ssh-ed25519 AAAA...`, got "ssh-ed25519 bm90IGEga2V5"/,
      );
    });

    it("fails clearly when the server does not accept the user key", async () => {
      const mark = sshd.log().length;
      await assert.rejects(
        openExecutor(sshSpec({ privateKey: sshd.unauthorizedPrivateKey })),
        (error: Error) => {
          assert.match(
            error.message,
            new RegExp(`^ssh ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}: the server refused`),
          );
          assert.ok(!error.message.includes("PRIVATE KEY"));
          return true;
        },
      );
      const logged = await connectionLog(mark);
      assert.match(logged[logged.length - 1], /\[preauth\]$/, logged.join("\n"));
      assert.doesNotMatch(logged.join("\n"), /Accepted publickey/);
    });

    it("does not quote an unreadable private key", async () => {
      const garbage =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0IG1hdGVyaWFs\n-----END OPENSSH PRIVATE KEY-----";
      await assert.rejects(openExecutor(sshSpec({ privateKey: garbage })), (error: Error) => {
        assert.match(error.message, /sshPrivateKey cannot be read/);
        assert.ok(!error.message.includes("c2VjcmV0IG1hdGVyaWFs"));
        return true;
      });
    });

    it("fails a run, and the runs after it, clearly when the connection drops", async () => {
      const executor = await openExecutor(sshSpec());
      try {
        // The parent of an exec'd command is sshd's process for this connection.
        await assert.rejects(
          executor.run(["sh", "-c", "kill -KILL $PPID; sleep 5"]),
          new RegExp(
            `^Error: ssh ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}: the connection ended before sh reported its exit$`,
          ),
        );
        await assert.rejects(executor.run(["true"]), /: cannot run true: /);
      } finally {
        await executor.close();
      }
    });

    it("closes a forwarded connection at once, and throws nothing, when the SSH connection is gone", async () => {
      const executor = await openExecutor(sshSpec());
      try {
        const forwarded = await executor.forward("127.0.0.1", sshd.port);
        await assert.rejects(executor.run(["sh", "-c", "kill -KILL $PPID; sleep 5"]));
        const started = Date.now();
        const ended = await new Promise<string>((resolve) => {
          const socket = net.connect(forwarded.port, forwarded.host);
          socket.on("error", (error) => resolve(error.message));
          socket.on("close", () => resolve("closed"));
        });
        assert.ok(Date.now() - started < 2000, `closed after ${Date.now() - started} ms (${ended})`);
      } finally {
        await executor.close();
      }
    });

    it("reads the exit of a command whose whole answer arrives in one read", async () => {
      const answered = await burstingServer((channel) => {
        channel.write("out\n");
        channel.stderr.write("err\n");
        channel.exit(7);
        channel.end();
      });
      try {
        const executor = await openExecutor({ ...sshSpec(), ...answered.spec });
        try {
          for (let attempt = 0; attempt < 3; attempt++)
            assert.deepEqual(await executor.run(["anything"]), {
              exitCode: 7,
              stdout: "out\n",
              stderr: "err\n",
            });
        } finally {
          await executor.close();
        }
      } finally {
        await answered.close();
      }
    });

    it("closes the connection after withExecutor, also when the work fails", async () => {
      const before = (await run("ss", ["-tn", "state", "established", `dport = :${sshd.port}`])).stdout;
      await assert.rejects(
        withExecutor(sshSpec(), async (executor) => {
          await runChecked(executor, ["false"]);
        }),
        /false exited with 1/,
      );
      const afterwards = await eventually(async () => {
        const now = (await run("ss", ["-tn", "state", "established", `dport = :${sshd.port}`])).stdout;
        return now.split("\n").length <= before.split("\n").length;
      }, settleMs);
      assert.equal(afterwards, true);
    });
  });

  describe("executorSpecFor", () => {
    it("runs locally for a local docker socket", () => {
      assert.deepEqual(executorSpecFor({ kind: "local", dockerHost: "unix:///var/run/docker.sock" }), {
        kind: "local",
      });
    });

    it("maps an ssh target and its key", () => {
      const target = {
        kind: "ssh" as const,
        user: "deploy",
        host: "203.0.113.10",
        port: 2222,
        hostKey: "ssh-ed25519 AAAA",
      };
      assert.deepEqual(executorSpecFor(target, "KEY"), {
        kind: "ssh",
        host: "203.0.113.10",
        port: 2222,
        user: "deploy",
        hostKey: "ssh-ed25519 AAAA",
        privateKey: "KEY",
      });
      assert.throws(() => executorSpecFor(target), /ssh:\/\/deploy@203\.0\.113\.10:2222 needs sshPrivateKey/);
    });

    it("refuses a docker host it cannot run commands on", () => {
      assert.throws(
        () => executorSpecFor({ kind: "local", dockerHost: "tcp://10.0.0.5:2375" }),
        /target host tcp:\/\/10\.0\.0\.5:2375: commands run locally only for a unix:\/\/ docker socket/,
      );
    });
  });
});
