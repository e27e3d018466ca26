/**
 * The router kind `caddy` on the dev stack, through the real engine and the `caddy` image (Caddy
 * 2.11.9 built by `npm run engine`): the same contract as nginx's. A switch under keep-alive load
 * loses nothing and loads no configuration; a canary weight splits requests; a rollback is the
 * same change back; the router restarted by hand comes back on its live site and pointer;
 * refresh finds nothing to change; destroy removes it.
 */
import assert from "node:assert/strict";
import { delay, run, runChecked } from "../support/process";
import { newDevStack, type TestStack } from "./support/engine";
import { answersOnNewConnections, Probe, unexpected, whileProbing } from "./support/traffic";

/** How many configurations the router's Caddy has loaded since its container started. */
async function configurationLoads(): Promise<number> {
  const { output } = await runChecked("docker", ["logs", "router"]);
  return output.split("\n").filter((line) => line.includes('"msg":"load complete"')).length;
}

describe("the caddy router through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  before(async () => {
    stack = await newDevStack();
    await stack.pulumiChecked(["config", "set", "--path", "router.kind", "caddy"]);
    // The name `npm run engine` gives its Caddy image, as the dev stack names nginx 1.26.
    await stack.pulumiChecked(["config", "set", "--path", "router.image", "caddy:2.11"]);
  });

  after(async () => {
    await stack?.teardown();
  });

  it("deploys Caddy as the router, serving blue through its live site", async () => {
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    const command = await runChecked("docker", ["inspect", "--format", "{{json .Config.Cmd}}", "router"]);
    assert.match(command.output, /exec caddy run --config/);
    const version = await runChecked("docker", ["exec", "router", "caddy", "version"]);
    assert.match(version.output, /^v2\.11\.9 /);
    assert.deepEqual(await answersOnNewConnections(10), ["blue 1.0.0"]);
    const outputs = await stack.outputs();
    assert.equal(outputs.activeSlot, "blue");
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("switches under keep-alive load: nothing lost, no configuration loaded, every request after `pulumi up` is green's", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", "1.2.0"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    const loads = await configurationLoads();
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    const seen = await whileProbing(new Probe(32, 0), async () => {
      await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      assert.deepEqual(await answersOnNewConnections(20), ["green 1.2.0"]);
    });
    assert.deepEqual(unexpected(seen, ["blue 1.0.0", "green 1.2.0"]), {}, JSON.stringify(seen));
    assert.equal(await configurationLoads(), loads, "the switch loaded no configuration");
    assert.equal((await stack.outputs()).activeSlot, "green");
  });

  it("splits requests by the canary weight, then rolls back by the same change back", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "router.canaryWeight", "50"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    const answers = await answersOnNewConnections(200);
    assert.deepEqual([...new Set(answers)].sort(), ["blue 1.0.0", "green 1.2.0"], "both slots answer");

    await stack.pulumiChecked(["config", "set", "--path", "router.canaryWeight", "0"]);
    await stack.pulumiChecked(["config", "set", "activeSlot", "blue"]);
    const seen = await whileProbing(new Probe(8, 0), async () => {
      await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      assert.deepEqual(await answersOnNewConnections(20), ["blue 1.0.0"]);
    });
    assert.deepEqual(unexpected(seen, ["blue 1.0.0", "green 1.2.0"]), {}, JSON.stringify(seen));
  });

  it("comes back on its live site and pointer after a restart by hand; refresh finds nothing to change", async () => {
    await runChecked("docker", ["restart", "router"]);
    let answers: string[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      answers = await answersOnNewConnections(1).catch(() => []);
      if (answers[0] === "blue 1.0.0") break;
      await delay(100);
    }
    assert.deepEqual(await answersOnNewConnections(10), ["blue 1.0.0"]);
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"]);
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("destroys the router with the rest", async () => {
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000);
    assert.notEqual((await run("docker", ["container", "inspect", "router"])).code, 0);
  });
});
