/**
 * The serialized-provider harness itself, proven on a tiny real provider that writes a file
 * through the executor: what the engine stores as `__provider` loads in plain node and works.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
// A default import would not survive serialization: it compiles to `.default` of a module
// the serializer re-requires without the interop wrapper.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type ExecutorSpec, runChecked, withExecutor } from "../../components/providers/executor";
import { assertSerializable, callSerializedProvider, providerTextOf } from "../support/dynamicProvider";
import { runProgram } from "../support/program";
import { type SshServer, startSshd } from "../support/sshd";

interface NoteInputs {
  executor: ExecutorSpec;
  file: string;
  text: string;
}

/** Writes `text` to `file` with `tee`, so the work really goes through the executor. */
const noteProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: NoteInputs, news: NoteInputs) {
    if (!path.isAbsolute(news.file))
      return {
        inputs: news,
        failures: [{ property: "file", reason: `must be an absolute path, got ${news.file}` }],
      };
    return { inputs: news };
  },
  async diff(_id: string, olds: NoteInputs, news: NoteInputs) {
    return { changes: olds.text !== news.text, replaces: olds.file !== news.file ? ["file"] : [] };
  },
  async create(inputs: NoteInputs) {
    await withExecutor(inputs.executor, (executor) =>
      runChecked(executor, ["tee", inputs.file], { stdin: inputs.text }),
    );
    return { id: inputs.file, outs: { ...inputs, bytes: Buffer.byteLength(inputs.text) } };
  },
  async delete(id: string, outs: NoteInputs) {
    await withExecutor(outs.executor, (executor) => runChecked(executor, ["rm", id]));
  },
};

class Note extends pulumi.dynamic.Resource {
  constructor(name: string, args: NoteInputs) {
    // The base class adds `__provider` to the object it is given, so it gets a copy.
    super(noteProvider, name, { ...args }, {}, "switchyard", "Note");
  }
}

const local: ExecutorSpec = { kind: "local" };

describe("serialized dynamic provider harness", () => {
  let dir: string;
  let sshd: SshServer;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-harness-"));
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serializes the provider", async () => {
    await assertSerializable(noteProvider);
  });

  it("runs create, diff, check and delete from the stored text in plain node", async () => {
    const file = path.join(dir, "note.txt");
    const inputs = { executor: local, file, text: "it's $HOME\nline two" };
    const text = await providerTextOf(() => new Note("note", inputs));
    assert.match(text, /exports\.handler/);

    const created = (await callSerializedProvider(text, "create", inputs)) as {
      id: string;
      outs: NoteInputs;
    };
    assert.deepEqual(created, { id: file, outs: { ...inputs, bytes: 19 } });
    assert.equal(fs.readFileSync(file, "utf8"), "it's $HOME\nline two");

    assert.deepEqual(
      await callSerializedProvider(text, "diff", file, { ...inputs, text: "a" }, { ...inputs, text: "b" }),
      { changes: true, replaces: [] },
    );
    const relative = { ...inputs, file: "relative" };
    assert.deepEqual(await callSerializedProvider(text, "check", {}, relative), {
      inputs: relative,
      failures: [{ property: "file", reason: "must be an absolute path, got relative" }],
    });

    await callSerializedProvider(text, "delete", file, created.outs);
    assert.equal(fs.existsSync(file), false);
  });

  it("reaches the target over SSH from the host process, ssh2 resolved from the repository", async () => {
    const file = path.join(dir, "over-ssh.txt");
    const executor: ExecutorSpec = {
      kind: "ssh",
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      hostKey: sshd.hostKey,
      privateKey: sshd.privateKey,
    };
    const inputs = { executor, file, text: "over ssh" };
    const text = await providerTextOf(() => new Note("over-ssh", inputs));
    await callSerializedProvider(text, "create", inputs);
    assert.equal(fs.readFileSync(file, "utf8"), "over ssh");
    await assert.rejects(
      callSerializedProvider(text, "create", {
        ...inputs,
        executor: { ...executor, hostKey: sshd.wrongHostKey },
      }),
      /host key mismatch, refusing to connect/,
    );
  });

  it("rejects with the provider's own message", async () => {
    const inputs = { executor: local, file: path.join(dir, "missing", "note.txt"), text: "x" };
    const text = await providerTextOf(() => new Note("broken", inputs));
    await assert.rejects(callSerializedProvider(text, "create", inputs), (error: Error) => {
      assert.match(error.message, /^tee exited with 1 on local:\n.*No such file or directory/);
      return true;
    });
  });

  it("coexists with the program mocks in one process", async () => {
    const run = await runProgram("stage");
    assert.equal(run.error, undefined);
    const inputs = { executor: local, file: path.join(dir, "x"), text: "x" };
    const text = await providerTextOf(() => new Note("after-program", inputs));
    assert.match(text, /exports\.handler/);
    const again = await runProgram("stage");
    assert.equal(again.error, undefined);
    assert.equal(again.registrations.length, run.registrations.length);
  });
});
