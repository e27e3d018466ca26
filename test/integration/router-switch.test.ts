/**
 * The router switch against real services: Debian's nginx in front of the demo app running as
 * blue (1.0.0) and green (2.0.0) on a real PostgreSQL. A switch moves every new request at once
 * without touching a worker, keep-alive load loses nothing over many switches, a bad
 * configuration is refused with nginx's own words, a slot that fails inside the post-switch
 * window is switched away from by the switch itself, `read` sees a switch made by hand, and the
 * serialized provider does all this from the text the engine would store.
 */
import { demoAppDir, startDemoApp } from "../support/demoApp";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import {
  RouterUpstream,
  type RouterUpstreamOutputs,
  routerUpstreamProvider,
} from "../../components/providers/RouterUpstream";
import type { SlotColour } from "../../infra/config";
import { callSerializedProvider, providerTextOf } from "../support/dynamicProvider";
import {
  type AppliedRouter,
  createRouter,
  keepAliveLoad,
  type RouterChoice,
  switchesUnderLoad,
  TestRouter,
  updateRouter,
} from "../support/nginx";
import { type PgServer, startPostgres, uniqueDatabaseName } from "../support/postgres";
import { Background, freePort, httpGet, run, waitForHttp } from "../support/process";
import { nginxBuckets } from "../../components/providers/nginxConfig";
import { routerCommands } from "../../components/providers/routerState";

const versions: Record<SlotColour, string> = { blue: "1.0.0", green: "2.0.0" };
/**
 * The post-switch check's per-check timeout in tests that switch under a load saturating the
 * machine: an answer that comes late there is no lost request and no failed slot, and these
 * tests are about requests and switching back, not latency (that belongs in the benchmarks).
 */
const patientCheckMs = 10_000;

/**
 * A TCP relay to PostgreSQL that a test can cut: the app behind it turns unhealthy (its
 * database is gone) while it keeps answering ordinary requests.
 */
class CuttableRelay {
  private readonly sockets = new Set<net.Socket>();
  private cut = false;
  private constructor(private readonly server: net.Server) {}

  static async start(targetPort: number): Promise<CuttableRelay> {
    const server = net.createServer();
    const relay = new CuttableRelay(server);
    server.on("connection", (client) => {
      if (relay.cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, "127.0.0.1");
      for (const socket of [client, upstream]) {
        relay.sockets.add(socket);
        socket.on("close", () => relay.sockets.delete(socket));
        socket.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Drops every connection and refuses new ones. */
  cutOff(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cut = false;
  }

  close(): Promise<void> {
    this.cutOff();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Slot {
  app: Background;
  address: string;
}

describe("router switch on real nginx in front of the demo app", () => {
  let pg: PgServer;
  let database: string;
  let greenDatabase: CuttableRelay;
  const slots = {} as Record<SlotColour, Slot>;
  let router: TestRouter | undefined;

  before(async function () {
    this.timeout(120_000);
    pg = await startPostgres();
    database = uniqueDatabaseName("router");
    await pg.createDatabase(database);
    const migrated = await run(process.execPath, ["migrate.js"], {
      cwd: demoAppDir,
      env: { PATH: process.env.PATH, DATABASE_URL: pg.url(database) },
    });
    assert.equal(migrated.code, 0, migrated.output);
    greenDatabase = await CuttableRelay.start(pg.port);
    for (const colour of ["blue", "green"] as const) await startSlot(colour, await freePort());
  });

  /** Starts the demo app as `colour` on `port`, and waits until it is healthy. */
  async function startSlot(colour: SlotColour, port: number): Promise<void> {
    const databaseUrl =
      colour === "green"
        ? pg.url(database).replace(`:${pg.port}/`, `:${greenDatabase.port}/`)
        : pg.url(database);
    const app = await startDemoApp(port, {
      DATABASE_URL: databaseUrl,
      APP_VERSION: versions[colour],
      SLOT: colour,
    });
    slots[colour] = { app, address: `127.0.0.1:${port}` };
    await waitForHttp(`http://${slots[colour].address}/health`, (res) => res.status === 200);
  }

  afterEach(async () => {
    greenDatabase.restore();
    await router?.stop();
    router = undefined;
  });

  after(async () => {
    for (const slot of Object.values(slots)) await slot.app.stop("SIGKILL");
    await greenDatabase?.close();
    if (database) await pg?.dropDatabase(database);
    await pg?.dispose();
  });

  const choice = (activeSlot: SlotColour, overrides: Partial<RouterChoice> = {}): RouterChoice => ({
    upstreams: { blue: slots.blue.address, green: slots.green.address },
    activeSlot,
    canaryWeight: 0,
    expectedVersion: versions[activeSlot],
    ...overrides,
  });

  /** Which slot answers each of `requests` GETs, each on a new connection. */
  const slotsOnNewConnections = async (url: string, requests: number): Promise<string[]> => {
    const seen: string[] = [];
    for (let i = 0; i < requests; i++) {
      const res = await httpGet(url);
      const slot = `${res.headers["x-slot"]} ${res.headers["x-app-version"]}`;
      seen.push(res.status === 200 ? slot : `HTTP ${res.status}`);
    }
    return [...new Set(seen)];
  };

  it("moves every new request to the other slot at once, keeping workers and keep-alive connections", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 10), ["blue 1.0.0"]);
    const workers = router.workerPids();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const viaKeptConnection = () =>
      new Promise<{ slot: string; socket: net.Socket }>((resolve, reject) => {
        http
          .get(`${router?.url}/`, { agent }, (res) => {
            res.resume();
            res.on("end", () => resolve({ slot: String(res.headers["x-slot"]), socket: res.socket }));
          })
          .on("error", reject);
      });
    const before = await viaKeptConnection();
    assert.equal(before.slot, "blue");

    await updateRouter(applied, router.inputs(choice("green")));
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 30), ["green 2.0.0"]);
    const after = await viaKeptConnection();
    assert.equal(
      after.slot,
      "green",
      "the next request on a connection opened before the switch goes to green",
    );
    assert.equal(after.socket, before.socket, "and that connection was never closed");
    assert.deepEqual(router.workerPids(), workers, "no worker was replaced: nothing reloaded");
    agent.destroy();
  });

  it("refuses a configuration nginx rejects, with nginx's own message, and keeps serving the old one", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    const stateDir = router.prefix.main.stateDir;
    const liveSite = fs.readlinkSync(path.join(stateDir, "current"));
    const workers = router.workerPids();

    const upstreams = { blue: slots.blue.address, green: "green.invalid:3000" };
    const broken = router.inputs(choice("green", { upstreams }));
    await assert.rejects(updateRouter(applied, broken), (error: Error) => {
      assert.match(error.message, /nginx refused the new router configuration; the live one is untouched/);
      assert.match(error.message, /\[emerg\].*host not found in upstream "green\.invalid:3000"/);
      return true;
    });
    assert.equal(
      fs.readlinkSync(path.join(stateDir, "current")),
      liveSite,
      "the live configuration is untouched",
    );
    assert.equal(fs.readlinkSync(path.join(stateDir, "live")), "routes/blue-0", "traffic did not move");
    const sites = fs.readdirSync(path.join(stateDir, "sites"));
    assert.deepEqual(sites, [path.basename(liveSite)], "the refused generation is gone");
    assert.deepEqual(router.workerPids(), workers);
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 10), ["blue 1.0.0"]);
  });

  it("puts the old configuration back when nginx accepts a new one but cannot load it", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    const stateDir = router.prefix.main.stateDir;
    const liveSite = fs.readlinkSync(path.join(stateDir, "current"));
    // `nginx -t` does not bind ports: a listener on a taken port passes it and fails the reload.
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const inputs = router.inputs(choice("blue"));
    const site = inputs.files["site.conf"];
    const moved = site.replace(
      `listen ${router.listen.address}:${router.listen.http} default_server;`,
      `listen 127.0.0.1:${takenPort} default_server;`,
    );
    assert.notEqual(moved, site);
    const unloadable = { ...inputs, files: { ...inputs.files, "site.conf": moved } };
    try {
      await assert.rejects(updateRouter(applied, unloadable), (error: Error) => {
        assert.match(
          error.message,
          /nginx did not load .*sites\/[0-9a-f]{16} within 15000 ms after the reload/,
        );
        assert.match(error.message, /Switched back: the previous configuration is live again\./);
        return true;
      });
    } finally {
      taken.close();
    }
    assert.equal(fs.readlinkSync(path.join(stateDir, "current")), liveSite);
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 10), ["blue 1.0.0"]);
  });

  it("loses no request over 12 switches back and forth under keep-alive load", async function () {
    this.timeout(120_000);
    const connections = 32;
    const switchCount = 12;
    const started = await TestRouter.start();
    router = started;
    const inputs = (to: SlotColour) => ({ ...started.inputs(choice(to)), timeoutMs: patientCheckMs });
    let applied = await createRouter(inputs("blue"));
    const switches = await switchesUnderLoad(
      `${started.url}/`,
      { connections, count: switchCount },
      async (to) => {
        applied = await updateRouter(applied, inputs(to));
        assert.deepEqual(await slotsOnNewConnections(`${started.url}/`, 3), [`${to} ${versions[to]}`]);
        return `${applied.outs.activeSlot} ${applied.outs.verifiedVersion}`;
      },
    );
    assert.deepEqual(
      switches,
      Array.from({ length: switchCount }, (_, i) => (i % 2 === 0 ? "green 2.0.0" : "blue 1.0.0")),
      "each switch held its post-switch window on the version of the slot it moved to",
    );
  });

  it("routes every request while the pointer flips as fast as it can, canary weights included", async function () {
    this.timeout(120_000);
    router = await TestRouter.start();
    await createRouter(router.inputs(choice("blue")));
    const load = await keepAliveLoad(`${router.url}/`, 32);
    let flips = 0;
    try {
      // No post-switch check in between: only the atomicity of the pointer is under test.
      for (; flips < 400; flips++) {
        const activeSlot: SlotColour = flips % 2 === 0 ? "green" : "blue";
        const [command, ...args] = routerCommands.pointTraffic(
          router.prefix.main.stateDir,
          {
            activeSlot,
            canaryWeight: flips % 4 < 2 ? 0 : 50,
          },
          nginxBuckets,
        );
        const flipped = await run(command, args);
        assert.equal(flipped.code, 0, flipped.output);
      }
    } finally {
      const result = await load.stop();
      const lost = result.errors + result.timeouts + result.non2xx;
      assert.equal(lost, 0, `after ${flips} flips: ${JSON.stringify(result)}`);
      // Not a throughput floor: only that requests went on while the pointer flipped.
      assert.ok(
        result.requests >= flips,
        `the load kept flowing through ${flips} flips: ${JSON.stringify(result)}`,
      );
    }
  });

  it("switches back by itself when the new slot fails inside the window; requests keep succeeding", async function () {
    this.timeout(120_000);
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    const routerUrl = router.url;
    const load = await keepAliveLoad(`${routerUrl}/`, 16);
    let result: Awaited<ReturnType<typeof load.stop>> | undefined;
    try {
      // A window far longer than getting from the switch to the cut can take on a busy machine;
      // it costs no time, as the first failing check ends it.
      const stableForMs = 15_000;
      const update = updateRouter(applied, {
        ...router.inputs(choice("green", { stableForMs })),
        timeoutMs: patientCheckMs,
      });
      // Its failure is awaited below; until then it must not count as unhandled.
      update.catch(() => {});
      // Green loses its database as soon as it is seen taking traffic: its health fails while
      // its pages still answer.
      await waitForHttp(`${routerUrl}/`, (res) => res.headers["x-slot"] === "green", 30_000);
      greenDatabase.cutOff();
      await assert.rejects(update, (error: Error) => {
        assert.equal(error.name, "RouterDidNotHold", error.message);
        assert.match(
          error.message,
          /^the router did not hold green on version 2\.0\.0 for 15000 ms after the switch: /,
        );
        // Which failing answer comes first depends on which of green's checks notices the cut
        // first: 503 (database) or 206 (migrations, which read the same database); on a busy
        // machine it may be none in time. Each fails the window.
        assert.match(
          error.message,
          new RegExp(
            "check \\d+, \\d+ ms in, saw (?:HTTP 503, status unhealthy|HTTP 206, status degraded|" +
              `no answer within ${patientCheckMs} ms)`,
          ),
        );
        assert.match(error.message, /Switched back: traffic is on blue again\.$/);
        return true;
      });
      assert.deepEqual(await slotsOnNewConnections(`${routerUrl}/`, 10), ["blue 1.0.0"]);
      assert.equal(fs.readlinkSync(path.join(router.prefix.main.stateDir, "live")), "routes/blue-0");
    } finally {
      result = await load.stop();
    }
    assert.equal(result.errors + result.timeouts + result.non2xx, 0, JSON.stringify(result));
  });

  it("loses no request when the new slot dies inside the window: the previous slot takes them while the switch goes back", async function () {
    this.timeout(120_000);
    const started = await TestRouter.start();
    router = started;
    const applied = await createRouter(router.inputs(choice("blue")));
    const load = await keepAliveLoad(`${router.url}/`, 16);
    let result: Awaited<ReturnType<typeof load.stop>> | undefined;
    const greenPort = Number(slots.green.address.split(":")[1]);
    let killed = false;
    try {
      const update = updateRouter(applied, {
        ...router.inputs(choice("green", { stableForMs: 15_000 })),
        timeoutMs: patientCheckMs,
      });
      update.catch(() => {});
      await waitForHttp(`${router.url}/`, (res) => res.headers["x-slot"] === "green", 30_000);
      assert.equal(
        fs.readlinkSync(path.join(started.prefix.main.stateDir, "live")),
        "routes/green-0-fallback",
        "inside the window, blue backs green up",
      );
      // Green crashes: its port refuses connections from now on.
      killed = true;
      await slots.green.app.stop("SIGKILL");
      await assert.rejects(update, (error: Error) => {
        assert.equal(error.name, "RouterDidNotHold", error.message);
        assert.match(error.message, /saw HTTP 502/);
        assert.match(error.message, /Switched back: traffic is on blue again\.$/);
        return true;
      });
      assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 10), ["blue 1.0.0"]);
      assert.equal(fs.readlinkSync(path.join(started.prefix.main.stateDir, "live")), "routes/blue-0");
    } finally {
      result = await load.stop();
      if (killed) await startSlot("green", greenPort);
    }
    assert.equal(result.errors + result.timeouts + result.non2xx, 0, JSON.stringify(result));
    assert.ok(result.requests > 0, JSON.stringify(result));
  });

  it("loses no request over switches to a slot that is already dead: the previous slot takes them while each goes back", async function () {
    this.timeout(120_000);
    const started = await TestRouter.start();
    router = started;
    const upstreams = { blue: slots.blue.address, green: `127.0.0.1:${await freePort()}` };
    const applied = await createRouter(started.inputs(choice("blue", { upstreams })));
    // Every attempt renames the pointer into the window and back while requests read it.
    await switchesUnderLoad(`${started.url}/`, { connections: 16, count: 8 }, () =>
      assert.rejects(
        updateRouter(applied, {
          ...started.inputs(choice("green", { upstreams, stableForMs: 15_000 })),
          timeoutMs: patientCheckMs,
        }),
        (error: Error) => {
          assert.equal(error.name, "RouterDidNotHold", error.message);
          assert.match(error.message, /saw HTTP 502/);
          assert.match(error.message, /Switched back: traffic is on blue again\.$/);
          return true;
        },
      ),
    );
    assert.equal(fs.readlinkSync(path.join(started.prefix.main.stateDir, "live")), "routes/blue-0");
  });

  it("ends the window on the route without a fallback once the switch held", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    await updateRouter(applied, router.inputs(choice("green")));
    assert.equal(fs.readlinkSync(path.join(router.prefix.main.stateDir, "live")), "routes/green-0");
  });

  it("reads a router that started without a site with no undefined property, which the engine would refuse", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    fs.rmSync(path.join(router.prefix.main.stateDir, "current"));
    const read = await routerUpstreamProvider.read?.(applied.id, applied.outs);
    const props = { ...read?.props } as Record<string, unknown>;
    assert.deepEqual(
      Object.keys(props).filter((key) => props[key] === undefined),
      [],
    );
    assert.equal(props.generation, undefined, "no site: no generation, so the next diff applies one");
    assert.equal(props.activeSlot, "blue");
    const diff = await routerUpstreamProvider.diff?.(
      applied.id,
      read?.props as RouterUpstreamOutputs,
      router.inputs(choice("blue")),
    );
    assert.deepEqual(diff?.changes, true);
  });

  it("reads a router whose container is gone as gone, so refresh drops it and the next up applies it again", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    // `docker exec` into a removed or stopped container exits 1, as `false` does.
    const read = await routerUpstreamProvider.read?.(applied.id, { ...applied.outs, exec: ["false"] });
    assert.deepEqual(read, {});
  });

  it("reports a switch made by hand through read, so a refresh finds the drift, and update puts it back", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice("blue")));
    // An operator points the router at green behind Pulumi's back.
    const [command, ...args] = routerCommands.pointTraffic(
      router.prefix.main.stateDir,
      {
        activeSlot: "green",
        canaryWeight: 0,
      },
      nginxBuckets,
    );
    const byHand = await run(command, args);
    assert.equal(byHand.code, 0, byHand.output);

    const read = await routerUpstreamProvider.read?.(applied.id, applied.outs);
    assert.equal(read?.props?.activeSlot, "green");
    const refreshed = read?.props as RouterUpstreamOutputs;
    const diff = await routerUpstreamProvider.diff?.(applied.id, refreshed, router.inputs(choice("blue")));
    assert.equal(diff?.changes, true);
    assert.deepEqual(diff?.replaces, []);

    const repaired: AppliedRouter = { id: applied.id, outs: refreshed };
    await updateRouter(repaired, router.inputs(choice("blue")));
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 10), ["blue 1.0.0"]);
  });

  it("the serialized provider checks, creates, switches, reads and deletes on real nginx", async function () {
    this.timeout(120_000);
    router = await TestRouter.start();
    const blue = router.inputs(choice("blue"));
    const text = await providerTextOf(() => new RouterUpstream("router-upstream", blue));

    const checked = (await callSerializedProvider(text, "check", {}, blue)) as { failures: unknown[] };
    assert.deepEqual(checked.failures, []);
    const bad = { ...blue, canaryWeight: 150, stateDir: "state" };
    const badCheck = (await callSerializedProvider(text, "check", {}, bad)) as {
      failures: { property: string; reason: string }[];
    };
    assert.deepEqual(
      badCheck.failures.map((failure) => failure.property),
      ["stateDir", "canaryWeight"],
    );

    const created = (await callSerializedProvider(text, "create", blue)) as AppliedRouter;
    assert.equal(created.outs.verifiedVersion, "1.0.0");
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 5), ["blue 1.0.0"]);

    const green = router.inputs(choice("green"));
    const diff = (await callSerializedProvider(text, "diff", created.id, created.outs, green)) as {
      changes: boolean;
      replaces: string[];
    };
    assert.deepEqual({ changes: diff.changes, replaces: diff.replaces }, { changes: true, replaces: [] });
    const updated = (await callSerializedProvider(text, "update", created.id, created.outs, green)) as {
      outs: RouterUpstreamOutputs;
    };
    assert.equal(updated.outs.verifiedVersion, "2.0.0");
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 5), ["green 2.0.0"]);

    const read = (await callSerializedProvider(text, "read", created.id, updated.outs)) as {
      props: RouterUpstreamOutputs;
    };
    assert.equal(read.props.activeSlot, "green");

    await callSerializedProvider(text, "delete", created.id, updated.outs);
    assert.deepEqual(fs.readdirSync(router.prefix.main.stateDir), []);
    assert.deepEqual(await slotsOnNewConnections(`${router.url}/`, 3), ["HTTP 503"]);
  });
});
