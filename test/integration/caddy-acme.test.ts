/**
 * The caddy router kind's automatic HTTPS on a real Caddy against Pebble on loopback: Caddy is
 * its own ACME client, so the RouterUpstream update waits until Caddy has the certificate (or
 * fails with the CA's reason, with traffic where it was), renews short-lived certificates in
 * place under HTTPS keep-alive load without losing a request or loading a configuration, keeps
 * its account and keys in the router's state directory for nobody else, and reports the expiry
 * and its last failure for `pulumi refresh`.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import type * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import { caddyAcmeLog, renderCaddyFiles } from "../../components/providers/caddyConfig";
import {
  routerUpstreamProvider,
  type RouterUpstreamInputs,
  type RouterUpstreamOutputs,
} from "../../components/providers/RouterUpstream";
import { routerLayout } from "../../components/providers/routerState";
import type { SlotColour } from "../../infra/config";
import { TestCaddyRouter } from "../support/caddy";
import { HttpsLoad } from "../support/https";
import {
  type AppliedRouter,
  createRouter,
  type RouterChoice,
  testRouterInputs,
  testSite,
  updateRouter,
} from "../support/nginx";
import { type Pebble, startPebble } from "../support/pebble";
import { delay } from "../support/process";
import { addressOf, backend, versions } from "../support/standInSlots";

const host = "app.switchyard.test";

/** The certificate a new handshake for `host` gets, verified against `ca`, and the slot that answered. */
function verifiedGet(port: number, ca: string): Promise<{ serial: string; validTo: string; slot: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(`https://127.0.0.1:${port}/`, { ca, servername: host, agent: false, timeout: 10_000 }, (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () =>
          resolve({
            serial: peer?.serialNumber ?? "",
            validTo: peer?.validTo ?? "",
            slot: String((JSON.parse(body) as { slot?: string }).slot),
          }),
        );
      })
      .on("error", reject);
  });
}

/** What `pulumi refresh` reads of the router. */
async function readRouter(applied: AppliedRouter): Promise<Partial<RouterUpstreamOutputs>> {
  const read = await routerUpstreamProvider.read?.(applied.id, applied.outs);
  return read?.props ?? {};
}

describe("router kind caddy: certificates from an ACME CA, Caddy its own client", function () {
  this.timeout(180_000);
  const slots = {} as Record<SlotColour, http.Server>;
  let router: TestCaddyRouter | undefined;
  let pebble: Pebble | undefined;

  before(async () => {
    slots.blue = await backend("blue");
    slots.green = await backend("green");
  });

  afterEach(async () => {
    await router?.stop();
    await pebble?.stop();
    router = undefined;
    pebble = undefined;
  });

  after(() => {
    for (const server of Object.values(slots)) server.close();
  });

  /** RouterUpstream inputs for an ACME site on `router`, its names `names`. */
  function acmeInputs(
    caddy: TestCaddyRouter,
    ca: Pebble,
    names: string[],
    activeSlot: SlotColour = "blue",
  ): RouterUpstreamInputs {
    const choice: RouterChoice = {
      upstreams: { blue: addressOf(slots.blue), green: addressOf(slots.green) },
      activeSlot,
      canaryWeight: 0,
      expectedVersion: versions[activeSlot],
      serverName: names.join(" "),
    };
    const caFile = path.join(caddy.dir, "directory-ca.pem");
    fs.writeFileSync(caFile, ca.endpointRootPem);
    const acme = { email: "ops@switchyard.test", directory: ca.directoryUrl, names };
    const site = {
      ...testSite(choice, caddy.listen, caddy.stateDir),
      tls: true,
      acme: { ...acme, checkIntervalSeconds: 2, directoryCertificateFile: caFile },
    };
    return {
      ...testRouterInputs(choice, {
        server: caddy.server,
        site,
        files: renderCaddyFiles(site, caddy.server.adminAddress),
      }),
      acme: { ...acme, exec: [] },
    };
  }

  it("waits for Caddy's first certificate, serves HTTPS with Pebble's chain, and keeps its keys to itself", async () => {
    router = await TestCaddyRouter.start();
    pebble = await startPebble({ validationHttpPort: router.listen.http });
    const applied = await createRouter(acmeInputs(router, pebble, [host]));
    const served = await verifiedGet(router.listen.https, await pebble.issuerRootsPem());
    assert.equal(served.slot, "blue");
    assert.equal(applied.outs.certificateExpiresAt, new Date(served.validTo).toISOString());
    const acmeDir = routerLayout(router.stateDir).acme;
    const private_ = fs
      .readdirSync(acmeDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && /\.key$/.test(entry.name));
    assert.ok(private_.length >= 2, "the account's and the certificate's keys");
    for (const entry of private_)
      assert.equal((fs.statSync(path.join(entry.parentPath, entry.name)).mode & 0o077).toString(8), "0");
    assert.ok(fs.existsSync(caddyAcmeLog(router.stateDir)));
  });

  it("renews short-lived certificates in place under HTTPS keep-alive load: none lost, no configuration loaded", async () => {
    router = await TestCaddyRouter.start();
    pebble = await startPebble({ validationHttpPort: router.listen.http, validitySeconds: 30 });
    await createRouter(acmeInputs(router, pebble, [host]));
    const ca = await pebble.issuerRootsPem();
    const loads = router.loads;
    const load = new HttpsLoad(`https://127.0.0.1:${router.listen.https}/`, 8, host);
    const serials = [(await verifiedGet(router.listen.https, ca)).serial];
    try {
      const deadline = Date.now() + 120_000;
      while (serials.length < 3 && Date.now() < deadline) {
        await delay(1000);
        const serial = (await verifiedGet(router.listen.https, ca)).serial;
        if (serial !== serials[serials.length - 1]) serials.push(serial);
      }
    } finally {
      await load.stop();
    }
    assert.equal(
      serials.length,
      3,
      `renewals seen: ${serials.length - 1}\n${router.process.output.slice(-3000)}`,
    );
    assert.deepEqual(load.failures, []);
    assert.ok(load.answered > 100, `answered ${load.answered}`);
    assert.equal(router.loads, loads, "no configuration was loaded");
  });

  it("fails with the CA's reason when it refuses an order, and puts the site back with traffic where it was", async () => {
    router = await TestCaddyRouter.start();
    pebble = await startPebble({ validationHttpPort: router.listen.http });
    const applied = await createRouter(acmeInputs(router, pebble, [host]));
    await pebble.refuse("refused.switchyard.test");
    await assert.rejects(
      updateRouter(applied, acmeInputs(router, pebble, [host, "refused.switchyard.test"], "green")),
      (error: Error) => {
        assert.match(error.message, /no certificate for app\.switchyard\.test, refused\.switchyard\.test/);
        assert.match(error.message, /refused\.switchyard\.test: .*urn:ietf:params:acme:error/);
        assert.match(error.message, /traffic has not moved/);
        return true;
      },
    );
    const served = await verifiedGet(router.listen.https, await pebble.issuerRootsPem());
    assert.equal(served.slot, "blue");
    const read = await readRouter(applied);
    assert.equal(read.activeSlot, "blue");
  });

  it("keeps the valid certificate when the CA is gone, and reports the failure when read", async () => {
    router = await TestCaddyRouter.start();
    pebble = await startPebble({ validationHttpPort: router.listen.http, validitySeconds: 60 });
    const applied = await createRouter(acmeInputs(router, pebble, [host]));
    const ca = await pebble.issuerRootsPem();
    const live = await verifiedGet(router.listen.https, ca);
    await pebble.stop();
    const deadline = Date.now() + 60_000;
    let read = await readRouter(applied);
    while (read.renewalError === undefined && Date.now() < deadline) {
      await delay(1000);
      read = await readRouter(applied);
    }
    assert.match(String(read.renewalError), /app\.switchyard\.test: .*(connection refused|dial tcp)/i);
    const still = await verifiedGet(router.listen.https, ca);
    assert.equal(still.serial, live.serial, "the live certificate stays");
  });
});
