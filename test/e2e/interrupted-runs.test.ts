/**
 * What a killed run of this tier left, on the real engine: a stack directory whose process is gone
 * goes with the container, network and volume its state holds; one whose process runs stays.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run, runChecked } from "../support/process";
import { pinnedImage, testPrefix } from "./support/engine";
import { markOwner, removeInterruptedStacks, stackDirectoryPrefix } from "./support/interruptedRuns";

/** A stack directory whose file backend's state holds a running container, its network and its volume. */
async function deployedStackDirectory(prefix: string): Promise<{ dir: string; objects: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), stackDirectoryPrefix));
  const [container, network, volume] = ["container", "network", "volume"].map((kind) => `${prefix}-${kind}`);
  await runChecked("docker", ["network", "create", network]);
  await runChecked("docker", ["volume", "create", volume]);
  const id = (
    await runChecked("docker", [
      ...["run", "--detach", "--restart", "unless-stopped", "--name", container],
      ...["--network", network, "--volume", `${volume}:/data`, pinnedImage("debian"), "sleep", "infinity"],
    ])
  ).stdout.trim();
  const resources = [
    { type: "pulumi:pulumi:Stack" },
    { type: "docker:index/volume:Volume", id: volume },
    { type: "docker:index/network:Network", id: network },
    { type: "docker:index/container:Container", id },
  ];
  const stacks = path.join(dir, "state", ".pulumi", "stacks", "switchyard");
  fs.mkdirSync(stacks, { recursive: true });
  fs.writeFileSync(path.join(stacks, "e2e.json"), JSON.stringify({ checkpoint: { latest: { resources } } }));
  return { dir, objects: [container, network, volume] };
}

async function exists(object: string): Promise<boolean> {
  return (await run("docker", ["inspect", object])).code === 0;
}

describe("what an interrupted run of this tier left, on the real engine", function () {
  this.timeout(120_000);
  const prefix = testPrefix("interrupted");
  const made: string[] = [];

  after(async () => {
    await run("docker", ["rm", "--force", `${prefix}-live-container`, `${prefix}-gone-container`]);
    await run("docker", ["network", "rm", `${prefix}-live-network`, `${prefix}-gone-network`]);
    await run("docker", ["volume", "rm", `${prefix}-live-volume`, `${prefix}-gone-volume`]);
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("removes a stack whose process is gone, with what its state holds, and keeps a running one's", async () => {
    const live = await deployedStackDirectory(`${prefix}-live`);
    markOwner(live.dir);
    const gone = await deployedStackDirectory(`${prefix}-gone`);
    // This pid, started at another time: the process that made it is gone, and the pid reused.
    const owner = path.join(gone.dir, "owner.json");
    markOwner(gone.dir);
    const mark = JSON.parse(fs.readFileSync(owner, "utf8")) as { startTicks: string };
    fs.writeFileSync(owner, JSON.stringify({ ...mark, startTicks: `${Number(mark.startTicks) - 1}` }));
    const unmarked = fs.mkdtempSync(path.join(os.tmpdir(), stackDirectoryPrefix));
    made.push(live.dir, gone.dir, unmarked);

    await removeInterruptedStacks();

    for (const object of gone.objects) assert.equal(await exists(object), false, `${object} is left`);
    assert.equal(fs.existsSync(gone.dir), false, "the gone process's stack directory is left");
    assert.equal(fs.existsSync(unmarked), false, "a stack directory without an owner is left");
    for (const object of live.objects) assert.equal(await exists(object), true, `${object} was removed`);
    assert.equal(fs.existsSync(live.dir), true, "the running process's stack directory was removed");
  });
});
