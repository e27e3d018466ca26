/**
 * The Docker provider's key files, written by the stored provider text the way `pulumi destroy`
 * runs it (no program): present with private modes while the command runs, gone when it ends.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DockerSshKeys, type DockerSshKeysInputs } from "../../components/providers/DockerSshKeys";
import { sshKeyDirectory, writeDockerSshKeys } from "../../components/providers/sshKeyFiles";
import { parseTarget } from "../../components/target";
import { delay } from "../support/process";
import { callSerializedProvider, providerTextOf } from "../support/dynamicProvider";

const inputs: DockerSshKeysInputs = {
  target: parseTarget({
    host: "ssh://deploy@203.0.113.10:2222",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIImKq15T3Nodmga1WDUYwnY84NtXX7r6uRaZEs3oQLtv",
  }) as DockerSshKeysInputs["target"],
  stack: `keys-test-${process.pid}`,
  privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n",
};

/** The files the ssh options name, from `-i <key>` and `UserKnownHostsFile=<file>`. */
function filesOf(options: string[]): { key: string; knownHosts: string } {
  const key = options[options.indexOf("-i") + 1];
  const knownHosts = options.find((option) => option.startsWith("UserKnownHostsFile="))?.split("=")[1];
  assert.ok(key && knownHosts, options.join(" "));
  return { key, knownHosts };
}

describe("the Docker provider's key files", () => {
  let dir: string | undefined;
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it("are private, hold the key and the pinned host, and stay while the command runs", () => {
    const { key, knownHosts } = filesOf(writeDockerSshKeys(inputs.target, inputs.stack, inputs.privateKey));
    dir = path.dirname(key);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    for (const file of [key, knownHosts]) assert.equal(fs.statSync(file).mode & 0o777, 0o600, file);
    assert.equal(fs.readFileSync(key, "utf8"), `${inputs.privateKey.trim()}\n`);
    assert.equal(fs.readFileSync(knownHosts, "utf8"), `[203.0.113.10]:2222 ${inputs.target.hostKey}\n`);
    assert.ok(dir.startsWith(os.tmpdir()));
  });

  it("are written by the stored provider's delete, and removed once the process that ran it ends", async () => {
    const stack = `${inputs.stack}-stored`;
    const text = await providerTextOf(() => new DockerSshKeys("keys", { ...inputs, stack }));
    const created = (await callSerializedProvider(text, "create", { ...inputs, stack })) as { id: string };
    assert.equal(created.id, stack);
    // Its own directory only: other processes here may write theirs meanwhile.
    const written = sshKeyDirectory(inputs.target, stack);
    assert.equal(fs.existsSync(written), false, "no key directory before the delete");
    let seen = false;
    const watch = fs.watch(os.tmpdir(), (_event, name) => {
      if (name === path.basename(written)) seen = true;
    });
    try {
      await callSerializedProvider(text, "delete", stack, { ...inputs, stack });
      await delay(200);
    } finally {
      watch.close();
    }
    assert.ok(seen, "the delete wrote the stack's key directory");
    for (let attempt = 0; attempt < 20 && fs.existsSync(written); attempt++) await delay(250);
    assert.equal(fs.existsSync(written), false, "the directory outlived the process");
  });
});
