/**
 * The release flow on the dev stack, for real, watched the way a user watches it: a probe on the
 * router through every `pulumi up`, keep-alive load through every switch, and faults made with
 * Docker by hand. A release to the idle slot never moves traffic; a switch loses nothing; a
 * replaced slot, in any order, never serves under the other colour's pointer; the router starts
 * without the idle slot, answers at once without the active one, and starts on a site it cannot
 * load rather than loop; a pointer moved by hand is
 * found by refresh and put back by up; a slot that dies inside the post-switch window costs no
 * request, and the engine's state then agrees with what is live; a killed `pulumi up` converges;
 * a restarted Docker engine brings the same slot back, and a router removed by hand comes back on
 * the same pointer; a canary keyed by a cookie keeps each user on one side.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { delay, run, runChecked, waitForHttp } from "../support/process";
import { newDevStack, restartDockerEngine, type TestStack } from "./support/engine";
import {
  answersOnNewConnections,
  containerId,
  Probe,
  routerUrl,
  unexpected,
  whileProbing,
} from "./support/traffic";
import { containerNginxMain, nginxBuckets } from "../../components/providers/nginxConfig";
import { routerCommands, routerLayout } from "../../components/providers/routerState";

describe("the release flow through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  /** `pulumi up` with the probe running; the probe's counts. */
  const upWatched = () =>
    whileProbing(new Probe(), async () => {
      await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      await delay(200);
    });

  before(async () => {
    stack = await newDevStack();
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.0"]);
  });

  after(async () => {
    if (!stack) return;
    for (const name of ["app-blue", "app-green"]) await run("docker", ["start", name]);
    await stack.teardown();
  });

  it("releases the idle slot: only green's parts change, and every request meanwhile is blue's", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.version", "1.2.0"]);
    const changes = await stack.plannedChanges();
    assert.ok(changes.length > 0);
    assert.deepEqual(
      changes.filter((change) => !/ app-green(-|$)/.test(change)),
      [],
      "nothing but the green slot and its gate",
    );
    const blue = await containerId("app-blue");
    const seen = await upWatched();
    assert.deepEqual(Object.keys(seen), ["blue 1.0.0"], JSON.stringify(seen));
    assert.equal(await containerId("app-blue"), blue);
  });

  it("switches under keep-alive load: nothing lost, and every request after `pulumi up` is green's", async () => {
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    const seen = await whileProbing(new Probe(32, 0), async () => {
      await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      assert.deepEqual(await answersOnNewConnections(20), ["green 1.2.0"]);
    });
    assert.deepEqual(unexpected(seen, ["blue 1.0.0", "green 1.2.0"]), {}, JSON.stringify(seen));
  });

  it("keeps both slots running as they were through a shared change, and says what waits for which slot", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "app.env.FEATURE_FLAGS", "checkout-v2"]);
    await stack.pulumiChecked(["config", "set", "--path", "app.resources.memoryMb", "320"]);
    const started = async (name: string) =>
      (
        await runChecked("docker", ["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", name])
      ).stdout.trim();
    const before = [await started("app-blue"), await started("app-green")];
    const up = await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual([await started("app-blue"), await started("app-green")], before);
    for (const slot of ["app-blue", "app-green"])
      assert.match(
        up.output,
        new RegExp(`${slot} keeps running its last release; the new app\\.env, app\\.resources reach it`),
      );
  });

  it("replaces the idle slot, then the active one by rollout: no answer ever comes from the other colour", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "slots.blue.version", "1.0.1"]);
    const idleRelease = await upWatched();
    assert.deepEqual(Object.keys(idleRelease), ["green 1.2.0"], JSON.stringify(idleRelease));

    // The active slot goes down while Docker replaces it: errors are expected, blue never is.
    await stack.pulumiChecked(["config", "set", "--path", "slots.green.rollout", "1"]);
    const activeRollout = await upWatched();
    assert.deepEqual(
      Object.keys(activeRollout).filter((answer) => answer.startsWith("blue")),
      [],
      JSON.stringify(activeRollout),
    );
    assert.deepEqual(await answersOnNewConnections(10), ["green 1.2.0"]);
  });

  it("restarts and reloads the router with the idle slot stopped, and serves the active one", async () => {
    await runChecked("docker", ["stop", "app-blue"]);
    try {
      await runChecked("docker", ["restart", "router"]);
      await waitForHttp(`${routerUrl}/`, (res) => res.status === 200, 30_000);
      await runChecked("docker", ["exec", "router", "nginx", "-s", "reload"]);
      assert.deepEqual(await answersOnNewConnections(10), ["green 1.2.0"]);
    } finally {
      await runChecked("docker", ["start", "app-blue"]);
    }
  });

  it("starts the router with the active slot down, and answers 502 at once", async () => {
    await runChecked("docker", ["stop", "app-green"]);
    try {
      await runChecked("docker", ["restart", "router"]);
      const answered = await waitForHttp(`${routerUrl}/`, () => true, 30_000);
      assert.equal(answered.status, 502);
      const started = Date.now();
      assert.deepEqual(await answersOnNewConnections(10), ["HTTP 502"]);
      // Ten refusals on loopback; an address nobody holds would take seconds each.
      assert.ok(Date.now() - started < 5_000, `${Date.now() - started} ms for 10 answers`);
    } finally {
      await runChecked("docker", ["start", "app-green"]);
    }
    await waitForHttp(`${routerUrl}/`, (res) => res.status === 200, 60_000);
  });

  it("starts the router on a site that does not load instead of looping, and refresh and up apply one", async () => {
    const { sites, current } = routerLayout(containerNginxMain.stateDir);
    const plant = [
      'mkdir -p "$1/unloadable"',
      'printf "upstream old_layout { server app-blue:3000; }\\n" > "$1/unloadable/site.conf"',
      'ln -sfn "$1/unloadable" "$2.next" && mv -Tf "$2.next" "$2"',
    ].join(" && ");
    await runChecked("docker", ["exec", "router", "sh", "-c", plant, "sh", sites, current]);
    await runChecked("docker", ["restart", "router"]);
    await delay(2000);
    const state = (
      await runChecked("docker", ["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "router"])
    ).stdout.trim();
    assert.equal(state, "running 0", "nginx runs, without a restart loop");
    assert.match((await run("docker", ["logs", "router"])).output, /does not load here; starting without it/);
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"], 600_000);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(10), ["green 1.2.0"]);
  });

  it("finds the pointer an operator moved by hand on refresh, and puts it back with up", async () => {
    const [command, ...args] = routerCommands.pointTraffic(
      containerNginxMain.stateDir,
      {
        activeSlot: "blue",
        canaryWeight: 0,
      },
      nginxBuckets,
    );
    await runChecked("docker", ["exec", "router", command, ...args]);
    assert.deepEqual(await answersOnNewConnections(5), ["blue 1.0.1"]);
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await stack.plannedChanges(), ["update router-upstream"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.deepEqual(await answersOnNewConnections(10), ["green 1.2.0"]);
  });

  it("loses nothing when the new slot dies inside the post-switch window; refresh and preview then agree", async () => {
    await stack.pulumiChecked(["config", "set", "activeSlot", "blue"]);
    const seen = await whileProbing(new Probe(32, 0), async () => {
      const up = stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
      await waitForHttp(`${routerUrl}/`, (res) => res.headers["x-slot"] === "blue", 120_000);
      await runChecked("docker", ["kill", "app-blue"]);
      const failed = await up;
      assert.notEqual(failed.code, 0, failed.output);
      assert.match(failed.output, /the router did not hold blue on version 1\.0\.1/);
      assert.match(failed.output, /Switched back: traffic is on green again/);
      assert.deepEqual(await answersOnNewConnections(10), ["green 1.2.0"]);
    });
    assert.deepEqual(unexpected(seen, ["blue 1.0.1", "green 1.2.0"]), {}, JSON.stringify(seen));

    await runChecked("docker", ["start", "app-blue"]);
    await stack.pulumiChecked(["config", "set", "activeSlot", "green"]);
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"], 600_000);
    await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
  });

  it("converges after `pulumi up` is killed inside the post-switch window, every request answered meanwhile", async () => {
    await stack.pulumiChecked(["config", "set", "activeSlot", "blue"]);
    const seen = await whileProbing(new Probe(4, 10), async () => {
      const up = stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
      await waitForHttp(`${routerUrl}/`, (res) => res.headers["x-slot"] === "blue", 120_000);
      await runChecked("pkill", ["-KILL", "-f", `pulumi up --yes --skip-preview --stack ${stack.stack}`]);
      const killed = await up;
      assert.notEqual(killed.code, 0, killed.output);
      // The file backend's lock outlives a killed update; `pulumi cancel` removes it.
      await stack.pulumiChecked(["cancel", "--yes"]);
      await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"], 600_000);
      await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      assert.deepEqual(await answersOnNewConnections(10), ["blue 1.0.1"]);
      await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
    });
    assert.deepEqual(unexpected(seen, ["blue 1.0.1", "green 1.2.0"]), {}, JSON.stringify(seen));
  });

  it("comes back on the same slot after the Docker engine restarts, and refresh finds nothing to change", async () => {
    await restartDockerEngine();
    await waitForHttp(`${routerUrl}/`, (res) => res.status === 200, 120_000);
    assert.deepEqual(await answersOnNewConnections(10), ["blue 1.0.1"]);
    await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview", "--expect-no-changes"], 600_000);
  });

  it("recreates a router removed by hand on the same pointer with `pulumi up --refresh`", async () => {
    await runChecked("docker", ["rm", "--force", "router"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview", "--refresh"], 600_000);
    assert.deepEqual(await answersOnNewConnections(10), ["blue 1.0.1"]);
    await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
  });

  it("keeps each user on one side of a canary set by config, and gives allowlisted users the canary", async () => {
    await stack.pulumiChecked(["config", "set", "--path", "router.canaryWeight", "20"]);
    await stack.pulumiChecked(["config", "set", "--path", "router.canaryKey", "cookie:account_id"]);
    await stack.pulumiChecked(["config", "set", "--path", "router.canaryAllowlist[0]", "vip-1"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    const sideOf = async (user: string) => {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http
          .get(`${routerUrl}/`, { agent: false, headers: { Cookie: `account_id=${user}` } }, resolve)
          .on("error", reject),
      );
      res.resume();
      return `${res.statusCode} ${res.headers["x-slot"]}`;
    };
    const users = Array.from({ length: 100 }, (_, i) => `account-${i}`);
    const first = await Promise.all(users.map(sideOf));
    const second = await Promise.all(users.map(sideOf));
    assert.deepEqual(second, first, "every user stays on one side");
    const canary = first.filter((side) => side === "200 green").length;
    assert.equal(first.filter((side) => side === "200 blue").length + canary, users.length);
    // The hash of these fixed ids decides; about 20 of 100, far from none or all.
    assert.ok(canary >= 8 && canary <= 35, `${canary} of 100 users on the canary`);
    for (let i = 0; i < 5; i++) assert.equal(await sideOf("vip-1"), "200 green");
  });
});
