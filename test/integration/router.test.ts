/**
 * The router's rendered configuration against Debian's real nginx, applied the way the
 * RouterUpstream provider applies it: every variant passes `nginx -t` (staged and once live),
 * each request bucket goes where the traffic pointer says, no pointer means 503, and TLS
 * serves the live certificate, which a rotation replaces without a reload or a lost request.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { routerUpstreamProvider } from "../../components/providers/RouterUpstream";
import {
  createRouter,
  type RouterChoice,
  selfSignedCertificate,
  TestRouter,
  testConfig,
  updateRouter,
} from "../support/nginx";
import { HttpsLoad, peerCertificate } from "../support/https";
import { httpGet } from "../support/process";
import { addressOf, backend, slotsServing, versions } from "../support/standInSlots";
import { nginxBuckets } from "../../components/providers/nginxConfig";
import {
  bucketSlot,
  parseRoute,
  renderMaintenancePage,
  routeEntries,
  routeName,
  upstreamServers,
} from "../../components/providers/routerState";

describe("router configuration against real nginx", () => {
  let blue: http.Server;
  let green: http.Server;
  let router: TestRouter | undefined;

  before(async () => {
    blue = await backend("blue");
    green = await backend("green");
  });
  afterEach(async () => {
    await router?.stop();
    router = undefined;
  });
  after(() => {
    blue.close();
    green.close();
  });

  const choice = (overrides: Partial<RouterChoice> = {}): RouterChoice => {
    const activeSlot = overrides.activeSlot ?? "blue";
    return {
      upstreams: { blue: addressOf(blue), green: addressOf(green) },
      activeSlot,
      canaryWeight: 0,
      expectedVersion: versions[activeSlot],
      ...overrides,
    };
  };

  it("gives each bucket exactly one slot, the idle one for a share equal to the canary weight", () => {
    for (const activeSlot of ["blue", "green"] as const) {
      for (let canaryWeight = 0; canaryWeight <= 100; canaryWeight++) {
        const traffic = { activeSlot, canaryWeight };
        const entries = routeEntries(traffic, nginxBuckets);
        assert.ok(entries.includes("routed"), "every route marks itself routed");
        assert.equal(entries.includes("green.active"), activeSlot === "green");
        const idle = activeSlot === "blue" ? "green" : "blue";
        const toGreen = Array.from({ length: nginxBuckets.count }, (_, bucket) => bucket).filter((bucket) =>
          entries.includes(`green.${bucket}`),
        );
        assert.equal(toGreen.length, idle === "green" ? canaryWeight : nginxBuckets.count - canaryWeight);
        for (let bucket = 0; bucket < nginxBuckets.count; bucket++) {
          assert.equal(
            toGreen.includes(bucket),
            bucketSlot(traffic, bucket, nginxBuckets.count) === "green",
            `bucket ${bucket}`,
          );
        }
        assert.deepEqual(parseRoute(`routes/${routeName(traffic)}`), traffic);
        const shares = Object.fromEntries(upstreamServers(traffic));
        assert.equal((shares[idle] ?? 0) + (shares[activeSlot] ?? 0), 100);
        assert.equal(shares[idle] ?? 0, canaryWeight);
      }
    }
    assert.equal(parseRoute("routes/green-101"), undefined);
    assert.equal(parseRoute(""), undefined);
  });

  describe("a canary pinned per user", () => {
    const canary = { key: { from: "cookie" as const, name: "account_id" }, allowlist: ["vip-1", "vip-2"] };

    /** The slot that answers a GET carrying `headers`. */
    const slotFor = async (headers: Record<string, string>) => {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get(`${router?.url}/`, { agent: false, headers }, resolve).on("error", reject),
      );
      res.resume();
      assert.equal(res.statusCode, 200);
      return String(res.headers["x-slot"]);
    };

    it("sends about the weight's share of users to the canary, each user always to the same side", async () => {
      router = await TestRouter.start();
      await createRouter(router.inputs(choice({ canaryWeight: 10, canary })));
      const users = Array.from({ length: 300 }, (_, i) => `account-${i}`);
      const sides = new Map<string, Set<string>>();
      for (let round = 0; round < 3; round++) {
        for (const user of users) {
          const slot = await slotFor({ Cookie: `theme=dark; account_id=${user}` });
          sides.set(user, (sides.get(user) ?? new Set()).add(slot));
        }
      }
      const switching = users.filter((user) => sides.get(user)?.size !== 1);
      assert.deepEqual(switching, [], "every user stays on one side, request after request");
      const canaryUsers = users.filter((user) => sides.get(user)?.has("green")).length;
      // The hash of these fixed ids decides; about 10% of 300, far from none or all.
      assert.ok(canaryUsers >= 15 && canaryUsers <= 45, `${canaryUsers} of 300 users on the canary`);
    });

    it("always gives allowlisted users the canary, even at 1%", async () => {
      router = await TestRouter.start();
      await createRouter(router.inputs(choice({ canaryWeight: 1, canary })));
      for (let i = 0; i < 20; i++) {
        assert.equal(await slotFor({ Cookie: "account_id=vip-1" }), "green");
        assert.equal(await slotFor({ Cookie: "account_id=vip-2" }), "green");
      }
      assert.equal(await slotFor({ Cookie: "account_id=account-1" }), "blue", "1% is not everyone");
    });

    it("reads the key from a header too, and splits requests without it one by one", async () => {
      router = await TestRouter.start();
      const byHeader = { ...canary, key: { from: "header" as const, name: "X-Account-Id" } };
      await createRouter(router.inputs(choice({ canaryWeight: 50, canary: byHeader })));
      assert.equal(await slotFor({ "X-Account-Id": "vip-1" }), "green");
      const first = await slotFor({ "X-Account-Id": "account-7" });
      for (let i = 0; i < 10; i++) assert.equal(await slotFor({ "X-Account-Id": "account-7" }), first);
      // Without the key, each request on its own: at 50%, 100 of them reach both sides.
      const anonymous = await slotsServing(`${router.url}/`, 100);
      assert.ok(
        (anonymous.get("blue") ?? 0) > 0 && (anonymous.get("green") ?? 0) > 0,
        JSON.stringify([...anonymous]),
      );
    });
  });

  it("every rendered configuration passes nginx -t, staged and once live", async () => {
    router = await TestRouter.start();
    const tls = await selfSignedCertificate();
    let applied = await createRouter(router.inputs(choice()));
    let variants = 0;
    for (const serverName of ["localhost", "_", "api.example.com www.example.com"]) {
      for (const withTls of [false, true]) {
        const inputs = router.inputs(choice({ serverName, tls: withTls ? tls : undefined }));
        // The provider stages each generation and refuses it unless `nginx -t` accepts it.
        applied = await updateRouter(applied, inputs);
        const live = await testConfig(router.prefix);
        assert.equal(live.code, 0, `${serverName}/${withTls}: ${live.output}`);
        variants++;
      }
    }
    assert.equal(variants, 6);
    const sites = fs.readdirSync(path.join(router.prefix.main.stateDir, "sites"));
    assert.deepEqual(sites, [applied.outs.generation], "older generations are pruned once the new one holds");
  });

  it("routes each request as the pointer says: active slot, canary share, and the check listener", async () => {
    router = await TestRouter.start();
    let applied = await createRouter(router.inputs(choice()));
    for (const activeSlot of ["blue", "green"] as const) {
      const idle = activeSlot === "blue" ? "green" : "blue";
      for (const canaryWeight of [0, 30, 100]) {
        applied = await updateRouter(applied, router.inputs(choice({ activeSlot, canaryWeight })));

        const requests = 400;
        const seen = await slotsServing(`${router.url}/`, requests);
        const idleShare = seen.get(idle) ?? 0;
        assert.equal(idleShare + (seen.get(activeSlot) ?? 0), requests, JSON.stringify([...seen]));
        // Requests fall in buckets at random: allow four standard deviations around the weight.
        const expected = (requests * canaryWeight) / 100;
        const spread = 4 * Math.sqrt(requests * (canaryWeight / 100) * (1 - canaryWeight / 100));
        assert.ok(
          Math.abs(idleShare - expected) <= spread,
          `${activeSlot} with ${canaryWeight}% canary: ${JSON.stringify([...seen])}`,
        );
        assert.deepEqual([...(await slotsServing(`${router.checkUrl}/`, 20)).keys()], [activeSlot]);
      }
    }
  });

  it("answers 503 without a traffic pointer rather than guess a slot", async () => {
    router = await TestRouter.start();
    const applied = await createRouter(router.inputs(choice({ activeSlot: "green" })));
    fs.rmSync(path.join(router.prefix.main.stateDir, "live"));
    assert.deepEqual([...(await slotsServing(`${router.url}/`, 10))], [["HTTP 503", 10]]);
    assert.deepEqual([...(await slotsServing(`${router.checkUrl}/health`, 5))], [["HTTP 503", 5]]);
    const read = await routerUpstreamProvider.read?.(applied.id, applied.outs);
    assert.equal(read?.props?.activeSlot, undefined, "refresh sees that no slot gets traffic");
  });

  it("serves HTTPS with the live certificate, security headers, and redirects plain HTTP", async () => {
    router = await TestRouter.start();
    const tls = await selfSignedCertificate();
    const applied = await createRouter(router.inputs(choice({ tls })));
    const keyFile = path.join(
      router.prefix.main.stateDir,
      "certificates",
      applied.outs.certificate ?? "",
      "privkey.pem",
    );
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(keyFile)).mode & 0o777, 0o700);
    if (process.getuid?.() === 0) assert.notEqual(fs.statSync(keyFile).uid, 0, "the workers' user owns it");

    const secure = await new Promise<{
      status: number;
      headers: http.IncomingHttpHeaders;
      certificate: string;
    }>((resolve, reject) => {
      const req = https.get(
        `https://127.0.0.1:${router?.listen.https}/`,
        { rejectUnauthorized: false, servername: "localhost", agent: false },
        (res) => {
          const peer = (res.socket as import("node:tls").TLSSocket).getPeerX509Certificate();
          res.resume();
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              certificate: peer?.toString() ?? "",
            }),
          );
        },
      );
      req.on("error", reject);
    });
    assert.equal(secure.status, 200);
    assert.equal(secure.headers["x-slot"], "blue");
    assert.equal(secure.certificate.trim(), tls.certificate.trim());
    assert.match(String(secure.headers["strict-transport-security"]), /max-age=31536000/);
    assert.equal(secure.headers["x-content-type-options"], "nosniff");
    assert.equal(secure.headers["x-frame-options"], "DENY");

    const plain = await slotsServing(`${router.url}/some/path`, 1);
    assert.deepEqual([...plain], [["HTTP 308", 1]]);
    // Every response carries the security headers: the redirect and the check listener's too.
    for (const url of [`${router.url}/some/path`, `${router.checkUrl}/`]) {
      const response = await httpGet(url);
      assert.equal(response.headers["x-content-type-options"], "nosniff", url);
      assert.equal(response.headers["x-frame-options"], "DENY", url);
      assert.equal(response.headers["referrer-policy"], "strict-origin-when-cross-origin", url);
    }
  });

  it("rotates the certificate under HTTPS keep-alive load without a reload or a lost request", async () => {
    router = await TestRouter.start();
    const https443 = `https://127.0.0.1:${router.listen.https}/`;
    let applied = await createRouter(router.inputs(choice({ tls: await selfSignedCertificate() })));
    const workers = router.workerPids();
    const load = new HttpsLoad(https443, 8);
    const rotations = 20;
    try {
      for (let rotation = 0; rotation < rotations; rotation++) {
        const tls = await selfSignedCertificate();
        applied = await updateRouter(applied, router.inputs(choice({ tls })));
        assert.equal(
          (await peerCertificate(https443)).trim(),
          tls.certificate.trim(),
          `rotation ${rotation}`,
        );
      }
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures, [], "no request failed");
    assert.ok(load.answered > rotations * 10, `requests answered: ${load.answered}`);
    assert.deepEqual(router.workerPids(), workers, "the same workers: nginx never reloaded");
    const kept = fs.readdirSync(path.join(router.prefix.main.stateDir, "certificates"));
    assert.deepEqual(
      kept,
      [applied.outs.certificate],
      "older certificates are removed once the new one is live",
    );
  });

  it("puts a maintenance page up and takes it down without a reload, while the check listener still reaches the slot", async () => {
    router = await TestRouter.start();
    let applied = await createRouter(router.inputs(choice()));
    const workers = router.workerPids();
    const page = renderMaintenancePage("Restoring the database; back in a minute.");
    applied = await updateRouter(applied, router.inputs(choice({ maintenancePage: page })));
    assert.equal(applied.outs.maintenance, true);
    for (const url of [`${router.url}/`, `${router.url}/some/page?x=1`]) {
      const answer = await httpGet(url);
      assert.equal(answer.status, 503, url);
      assert.equal(answer.body, page);
      assert.equal(answer.headers["retry-after"], "30");
      assert.equal(answer.headers["x-frame-options"], "DENY");
      assert.equal(answer.headers["cache-control"], "no-store");
    }
    assert.deepEqual([...(await slotsServing(`${router.checkUrl}/`, 5))], [["blue", 5]]);
    const read = await routerUpstreamProvider.read?.(applied.id, applied.outs);
    assert.equal(read?.props?.maintenance, true, "refresh sees the page");

    applied = await updateRouter(applied, router.inputs(choice()));
    assert.equal(applied.outs.maintenance, false);
    assert.deepEqual([...(await slotsServing(`${router.url}/`, 5))], [["blue", 5]]);
    assert.deepEqual(router.workerPids(), workers, "the same workers: nginx never reloaded");

    // Without a pointer, nginx's own 503, not the page.
    fs.rmSync(path.join(router.prefix.main.stateDir, "live"));
    const bare = await httpGet(`${router.url}/`);
    assert.equal(bare.status, 503);
    assert.doesNotMatch(bare.body, /Restoring/);
  });

  it("refuses a key that does not match its chain before anything changes", async () => {
    router = await TestRouter.start();
    const tls = await selfSignedCertificate();
    const applied = await createRouter(router.inputs(choice({ tls })));
    const mismatched = router.inputs(choice({ tls: { ...tls, key: (await selfSignedCertificate()).key } }));
    const checkedInputs = await routerUpstreamProvider.check?.(applied.outs as never, mismatched);
    assert.deepEqual(
      checkedInputs?.failures?.map((failure) => [failure.property, failure.reason]),
      [["secretFiles", "the key does not belong to the chain's first certificate"]],
    );
    assert.equal(
      (await peerCertificate(`https://127.0.0.1:${router.listen.https}/`)).trim(),
      tls.certificate.trim(),
    );
  });
});
