/**
 * The real engine, end to end, on a minimal program: `pulumi up`, `preview --expect-no-changes`,
 * `refresh` (which must see a hand edit), `destroy`, checked the way a user would — stack
 * outputs, `docker inspect`, the file on disk, `pulumi stack export`.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "../support/process";
import { pinnedImage, TestStack, testPrefix } from "./support/engine";

async function inspect(
  container: string,
): Promise<
  { Config: { Image: string; Labels: Record<string, string> }; State: { Running: boolean } } | undefined
> {
  const result = await run("docker", ["inspect", "--type", "container", container]);
  if (result.code !== 0) return undefined;
  return (JSON.parse(result.stdout) as never[])[0];
}

describe("the real engine: pulumi up, preview, refresh, destroy of a minimal program", function () {
  this.timeout(600_000);
  const prefix = testPrefix("smoke");
  const containerName = `${prefix}-sleeper`;
  const token = `token-${prefix}-${"s".repeat(20)}`;
  const image = pinnedImage("debian");
  let stack: TestStack;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    stack = new TestStack({
      program: "test/e2e/fixtures/smoke",
      packages: ["@pulumi/pulumi", "@pulumi/command"],
    });
    await stack.init({ image, containerName, dir }, { token });
  });

  after(async () => {
    await run("docker", ["rm", "--force", containerName]);
    stack?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("creates: a running container pinned by the registry's digest, the file, and the outputs", async () => {
    const up = await stack.pulumiChecked(["up", "--yes", "--skip-preview"]);
    assert.match(up.stdout, /\+ 3 created/);
    const outputs = await stack.outputs();
    assert.match(String(outputs.containerId), /^[0-9a-f]{64}$/);
    assert.equal(outputs.noteFile, path.join(dir, "note.txt"));
    assert.match(String(outputs.tokenDigest), /^[0-9a-f]{64}$/);

    const container = await inspect(containerName);
    assert.ok(container, `${containerName} does not exist`);
    assert.equal(container.State.Running, true);
    assert.equal(container.Config.Image, image);
    assert.match(image, /^127\.0\.0\.1:5000\/switchyard\/debian@sha256:[0-9a-f]{64}$/);
    assert.equal(container.Config.Labels["switchyard.test"], "smoke");
    assert.equal(fs.readFileSync(path.join(dir, "note.txt"), "utf8"), `${outputs.containerId}`);
  });

  it("keeps the secret encrypted in the state and out of the update's output", async () => {
    const state = await stack.exportState();
    assert.ok(!state.includes(token), "the token is in the exported state in plain text");
    assert.match(state, /"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"/);
    const preview = await stack.pulumiChecked(["preview", "--diff", "--show-config"]);
    assert.ok(!preview.output.includes(token), "the token is in the preview's output");
  });

  it("previews no changes right after the update", async () => {
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("refresh reads a hand edit back, the next preview shows the update, and up puts the file right", async () => {
    const file = path.join(dir, "note.txt");
    const expected = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, "edited by hand");
    await stack.pulumiChecked(["refresh", "--yes"]);
    const steps = await stack.previewSteps();
    assert.deepEqual(
      steps.filter((step) => step.op !== "same").map((step) => [step.op, step.urn.split("::").pop()]),
      [["update", "note"]],
    );
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"]);
    assert.equal(fs.readFileSync(file, "utf8"), expected);
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("destroys everything it made: the container and the file are gone, the stack is empty", async () => {
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"]);
    assert.equal(await inspect(containerName), undefined);
    assert.equal(fs.existsSync(path.join(dir, "note.txt")), false);
    const state = JSON.parse(await stack.exportState()) as { deployment: { resources?: unknown[] } };
    assert.deepEqual(state.deployment.resources ?? [], []);
  });
});
