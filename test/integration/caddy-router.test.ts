/**
 * The router kind `caddy` against a real Caddy (the build `npm run engine` makes), applied by
 * the same RouterUpstream provider as nginx: a switch moves every new request at once and loads
 * no configuration, keep-alive load loses nothing over many switches, a canary weight splits
 * requests, a configuration Caddy rejects is refused with its words, a new slot that is down
 * inside the post-switch window costs no request while the switch goes back, and the
 * maintenance page goes up and down without a reload.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import * as path from "node:path";
import { caddyBuckets, caddySiteFile, caddyStart } from "../../components/providers/caddyConfig";
import { renderMaintenancePage, routeEntries, routerCommands } from "../../components/providers/routerState";
import type { SlotColour } from "../../infra/config";
import { caddyBinary, TestCaddyRouter } from "../support/caddy";
import {
  type AppliedRouter,
  createRouter,
  switchesUnderLoad,
  type RouterChoice,
  updateRouter,
} from "../support/nginx";
import { Background, httpGet, waitForHttp } from "../support/process";
import { addressOf, backend, slotsServing, versions } from "../support/standInSlots";

describe("router kind caddy on a real Caddy", () => {
  const slots = {} as Record<SlotColour, http.Server>;
  let router: TestCaddyRouter | undefined;

  before(async () => {
    slots.blue = await backend("blue");
    slots.green = await backend("green");
  });

  afterEach(async () => {
    await router?.stop();
    router = undefined;
  });

  after(() => {
    for (const server of Object.values(slots)) server.close();
  });

  const choice = (activeSlot: SlotColour, overrides: Partial<RouterChoice> = {}): RouterChoice => ({
    upstreams: { blue: addressOf(slots.blue), green: addressOf(slots.green) },
    activeSlot,
    canaryWeight: 0,
    expectedVersion: versions[activeSlot],
    ...overrides,
  });

  it("moves every new request to the other slot at once, on kept connections, loading no configuration", async () => {
    router = await TestCaddyRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    assert.deepEqual([...(await slotsServing(`${router.url}/`, 20)).keys()], ["blue"]);
    const loads = router.loads;
    assert.ok(loads >= 1, "the site was loaded through the admin endpoint");
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const viaKeptConnection = (url: string) =>
      new Promise<{ slot: string; socket: net.Socket; headers: http.IncomingHttpHeaders }>(
        (resolve, reject) => {
          http
            .get(url, { agent }, (res) => {
              res.resume();
              res.on("end", () =>
                resolve({ slot: String(res.headers["x-slot"]), socket: res.socket, headers: res.headers }),
              );
            })
            .on("error", reject);
        },
      );
    const before = await viaKeptConnection(`${router.url}/`);
    assert.equal(before.slot, "blue");
    assert.equal(before.headers["x-frame-options"], "DENY", "the security headers are on every answer");
    assert.equal(before.headers.server, undefined, "Caddy does not name itself");

    await updateRouter(applied, router.inputs(choice("green")));
    assert.deepEqual([...(await slotsServing(`${router.url}/`, 30)).keys()], ["green"]);
    const after = await viaKeptConnection(`${router.url}/`);
    assert.equal(
      after.slot,
      "green",
      "the next request on a connection opened before the switch goes to green",
    );
    assert.equal(after.socket, before.socket, "and that connection was never closed");
    assert.equal(router.loads, loads, "the switch loaded no configuration");
    agent.destroy();
  });

  it("loses no request over 12 switches back and forth under keep-alive load, with a canary weight in between", async function () {
    this.timeout(120_000);
    const connections = 32;
    const switchCount = 12;
    const started = await TestCaddyRouter.start();
    router = started;
    // Patient checks: late answers on a saturated machine are no lost request.
    const inputs = (to: SlotColour, canaryWeight = 0) => ({
      ...started.inputs(choice(to, { canaryWeight })),
      timeoutMs: 10_000,
    });
    let applied: AppliedRouter = await createRouter(inputs("blue"));
    const loads = started.loads;
    const switches = await switchesUnderLoad(
      `${started.url}/`,
      { connections, count: switchCount },
      async (to, i) => {
        // Before every third switch, a canary weight of 30 on the slot traffic is about to leave.
        if (i % 3 === 2) applied = await updateRouter(applied, inputs(applied.outs.activeSlot ?? "blue", 30));
        applied = await updateRouter(applied, inputs(to));
        assert.deepEqual([...(await slotsServing(`${started.url}/`, 5)).keys()], [to]);
        return `${applied.outs.activeSlot} ${applied.outs.verifiedVersion}`;
      },
    );
    assert.deepEqual(
      switches,
      Array.from({ length: switchCount }, (_, i) => (i % 2 === 0 ? "green 2.0.0" : "blue 1.0.0")),
    );
    assert.equal(started.loads, loads, "no switch loaded a configuration");
  });

  it("sends a canary weight's share of requests to the idle slot, and the check listener to the active one", async () => {
    router = await TestCaddyRouter.start();
    await createRouter(router.inputs(choice("blue", { canaryWeight: 50 })));
    const live = path.join(router.stateDir, "live");
    assert.deepEqual(
      fs.readdirSync(live).sort(),
      routeEntries({ activeSlot: "blue", canaryWeight: 50 }, caddyBuckets).sort(),
      "half of the 256 buckets go to green",
    );
    const seen = await slotsServing(`${router.url}/`, 400);
    // Each side's count is binomial(400, 0.5): outside 120-280 once in about 10^15 runs.
    for (const colour of ["blue", "green"]) {
      const count = seen.get(colour) ?? 0;
      assert.ok(count > 120 && count < 280, `${colour} got ${count} of 400: ${JSON.stringify([...seen])}`);
    }
    const check = `http://127.0.0.1:${router.listen.check}/`;
    assert.deepEqual([...(await slotsServing(check, 40)).keys()], ["blue"]);
  });

  it("refuses a configuration Caddy rejects, with Caddy's own words, and keeps serving the live one", async () => {
    router = await TestCaddyRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    const liveSite = fs.readlinkSync(path.join(router.stateDir, "current"));
    const inputs = router.inputs(choice("green"));
    const broken = inputs.files[caddySiteFile].replace('"handler": "encode"', '"handler": "no_such_handler"');
    assert.notEqual(broken, inputs.files[caddySiteFile]);
    await assert.rejects(
      updateRouter(applied, { ...inputs, files: { [caddySiteFile]: broken } }),
      (error: Error) => {
        assert.equal(error.name, "CaddyRefused");
        assert.match(error.message, /Caddy refused the new router configuration; the live one is untouched/);
        assert.match(error.message, /no_such_handler/);
        return true;
      },
    );
    assert.equal(fs.readlinkSync(path.join(router.stateDir, "current")), liveSite);
    assert.equal(
      fs.readlinkSync(path.join(router.stateDir, "live")),
      "routes/blue-0",
      "traffic did not move",
    );
    assert.deepEqual(fs.readdirSync(path.join(router.stateDir, "sites")), [path.basename(liveSite)]);
    assert.deepEqual([...(await slotsServing(`${router.url}/`, 10)).keys()], ["blue"]);
  });

  it("falls back to the previous slot while a dead new slot fails the window, switch after switch: no request lost, traffic back", async function () {
    this.timeout(120_000);
    const started = await TestCaddyRouter.start();
    router = started;
    // Green's address with nothing listening: every connection to it is refused.
    const dead = await backend("green");
    const deadAddress = addressOf(dead);
    await new Promise((resolve) => dead.close(resolve));
    const upstreams = { blue: addressOf(slots.blue), green: deadAddress };
    const applied = await createRouter(started.inputs(choice("blue", { upstreams })));
    // Every attempt renames the pointer into the window and back while requests read it.
    await switchesUnderLoad(`${started.url}/`, { connections: 16, count: 8 }, () =>
      assert.rejects(
        updateRouter(applied, started.inputs(choice("green", { upstreams, stableForMs: 2000 }))),
        (error: Error) => {
          assert.equal(error.name, "RouterDidNotHold");
          assert.match(error.message, /Switched back: traffic is on blue again/);
          return true;
        },
      ),
    );
    assert.equal(fs.readlinkSync(path.join(started.stateDir, "live")), "routes/blue-0");
    assert.deepEqual([...(await slotsServing(`${started.url}/`, 10)).keys()], ["blue"]);
  });

  it("puts the maintenance page up and takes it down without loading a configuration", async () => {
    router = await TestCaddyRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    const loads = router.loads;
    const page = renderMaintenancePage("Back at <noon>.");
    const held = await updateRouter(applied, router.inputs(choice("blue", { maintenancePage: page })));
    const answer = await httpGet(`${router.url}/anything`);
    assert.equal(answer.status, 503);
    assert.equal(answer.headers["retry-after"], "30");
    assert.equal(answer.headers["cache-control"], "no-store");
    assert.equal(answer.body, page);
    const check = await httpGet(`http://127.0.0.1:${router.listen.check}/health`);
    assert.equal(check.status, 200, "the check listener still reaches the slot");
    await updateRouter(held, router.inputs(choice("blue")));
    assert.deepEqual([...(await slotsServing(`${router.url}/`, 10)).keys()], ["blue"]);
    assert.equal(router.loads, loads);
  });

  it("starts as its container does: on the live site, or, when that does not load, without it", async function () {
    this.timeout(60_000);
    const started = await TestCaddyRouter.start();
    router = started;
    await createRouter(started.inputs(choice("green")));
    await started.process.stop();
    const [shell, ...args] = routerCommands.startRouter(
      started.server.bootConfig,
      started.stateDir,
      caddyStart,
    );
    const env = { ...process.env, PATH: `${path.dirname(caddyBinary)}:${process.env.PATH}` };
    const restarted = new Background(shell, args, { env });
    try {
      await waitForHttp(`${started.url}/`, (res) => res.status === 200).catch((error: Error) => {
        throw new Error(`${error.message}\n${restarted.output}`);
      });
      assert.deepEqual([...(await slotsServing(`${started.url}/`, 10)).keys()], ["green"]);
    } finally {
      await restarted.stop();
    }

    const live = path.join(started.stateDir, "current", caddySiteFile);
    fs.writeFileSync(live, fs.readFileSync(live, "utf8").replace('"handler": "encode"', '"handler": "nope"'));
    const withBrokenSite = new Background(shell, args, { env });
    try {
      await withBrokenSite.waitForOutput(/the live site in .* does not load here; starting without it/);
      await withBrokenSite.waitForOutput(/serving initial configuration|admin endpoint started/);
      assert.ok(withBrokenSite.running, withBrokenSite.output);
      assert.ok(!fs.existsSync(path.join(started.stateDir, "current")), "the site was set aside");
    } finally {
      await withBrokenSite.stop();
    }
  });
});
