/**
 * The README's second command, for real: the dev stack (`Pulumi.dev.yaml` as committed, official
 * image names, the demo app built from examples/demo-app) deployed by `pulumi up` to the local
 * Docker engine through the plugins built here, then switched, destroyed and deployed again —
 * checked the way a user would: HTTP answers through the router, `docker inspect`, the engine's
 * own preview.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { delay, httpGet, run, runChecked } from "../support/process";
import { devStackContainers as containers, newDevStack, type TestStack } from "./support/engine";

const networks = ["switchyard-private", "switchyard-edge"];
const routerHealth = "http://127.0.0.1:8080/health";

interface Inspected {
  Id: string;
  State: { Running: boolean; Health?: { Status: string } };
}

async function inspect(
  kind: "container" | "network" | "volume",
  name: string,
): Promise<Inspected | undefined> {
  const result = await run("docker", [kind, "inspect", name]);
  return result.code === 0 ? (JSON.parse(result.stdout) as Inspected[])[0] : undefined;
}

/** A container's health once Docker has given a verdict (`starting` is none yet). */
async function settledHealth(name: string, timeoutMs = 120_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await inspect("container", name))?.State.Health?.Status;
    if (status !== "starting" || Date.now() > deadline) return status;
    await delay(1000);
  }
}

/** What the router answers on a fresh connection each time. */
async function answers(count: number): Promise<{ status: number; slot?: string; version?: string }[]> {
  const seen = [];
  for (let i = 0; i < count; i++) {
    const response = await httpGet(routerHealth);
    const body = JSON.parse(response.body) as { slot?: string; version?: string };
    seen.push({ status: response.status, slot: body.slot, version: body.version });
  }
  return seen;
}

/** The stack's volumes, by Docker name, as the state records them. */
async function stackVolumes(stack: TestStack): Promise<string[]> {
  const state = JSON.parse(await stack.exportState()) as {
    deployment: { resources?: { type: string; outputs?: { name?: string } }[] };
  };
  return (state.deployment.resources ?? [])
    .filter((resource) => resource.type === "docker:index/volume:Volume")
    .map((resource) => String(resource.outputs?.name));
}

describe("the dev stack through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  before(async () => {
    stack = await newDevStack();
  });

  after(() => stack?.teardown());

  it("deploys: every container runs and is healthy, and the router answers with the blue version", async () => {
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    for (const name of containers) {
      const container = await inspect("container", name);
      assert.ok(container, `${name} does not exist`);
      assert.equal(container.State.Running, true, `${name} is not running`);
      // Docker runs the router's healthcheck every 30 s: its first verdict may still be to come.
      assert.equal(await settledHealth(name), "healthy", `${name} is not healthy`);
    }
    const response = await httpGet(routerHealth);
    assert.equal(response.status, 200, response.body);
    const { status, version, slot, database, redis, migrations } = JSON.parse(response.body) as Record<
      string,
      unknown
    >;
    // Redis included: its config must be readable by the user it runs as.
    assert.deepEqual(
      { status, version, slot, database, redis, migrations },
      {
        status: "healthy",
        version: "1.0.0",
        slot: "blue",
        database: "connected",
        redis: "connected",
        migrations: "up-to-date",
      },
    );
    const outputs = await stack.outputs();
    assert.equal(outputs.activeSlot, "blue");
    assert.equal(outputs.routerUrl, "http://localhost:8080");
    assert.equal(path.dirname(String(outputs.lastSnapshot)), stack.snapshotDirectory);
    assert.match(path.basename(String(outputs.lastSnapshot)), /^switchyard\+dev\+.+\+002\.dump$/);
  });

  it("previews no changes right after the deploy, and after a refresh", async () => {
    await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"]);
    await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
  });

  it("switches to green with activeSlot: only the switch changes, and every new request is green's", async () => {
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    assert.deepEqual(await stack.plannedChanges(), ["update router-upstream"]);
    const before = await inspect("container", "app-blue");
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(
      (await answers(20)).filter((answer) => answer.slot !== "green" || answer.status !== 200),
      [],
    );
    assert.equal(
      (await inspect("container", "app-blue"))?.Id,
      before?.Id,
      "the old slot keeps running as it was",
    );
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  /** `pulumi destroy`, and what it left of the stack's containers, networks and volumes. */
  async function destroyAndFindLeft(): Promise<string[]> {
    const volumes = await stackVolumes(stack);
    assert.ok(volumes.length >= 2, `volumes in the state: ${volumes.join(", ")}`);
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000);
    const left = [];
    for (const name of containers) if (await inspect("container", name)) left.push(`container ${name}`);
    for (const name of networks) if (await inspect("network", name)) left.push(`network ${name}`);
    for (const name of volumes) if (await inspect("volume", name)) left.push(`volume ${name}`);
    return left;
  }

  it("destroys every container, network and volume of the stack", async () => {
    assert.deepEqual(await destroyAndFindLeft(), []);
  });

  it("deploys again from scratch after the destroy", async () => {
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    const response = await httpGet(routerHealth);
    assert.equal(response.status, 200, response.body);
    const body = JSON.parse(response.body) as { slot: string; database: string; migrations: string };
    assert.deepEqual([body.slot, body.database, body.migrations], ["green", "connected", "up-to-date"]);
  });

  it("destroys it all with the router stopped by hand", async () => {
    await runChecked("docker", ["stop", "router"]);
    assert.deepEqual(await destroyAndFindLeft(), []);
  });
});
