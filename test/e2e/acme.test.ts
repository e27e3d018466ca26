/**
 * Automatic HTTPS through the real engine, against Pebble (Let's Encrypt's test CA) on loopback:
 * the dev stack with `router.tls.acme` gets its first certificate during `pulumi up`, over
 * HTTP-01 on the router's HTTP port; the ACME client beside the router renews short-lived
 * certificates by itself under HTTPS keep-alive load without a reload or a lost request; a CA
 * that refuses an order fails `pulumi up` with its reason and moves nothing; a CA that is gone
 * leaves the valid certificate serving and the failure in `pulumi refresh`; destroy takes the
 * keys with it.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as https from "node:https";
import type { TLSSocket } from "node:tls";
import { containerCaddy } from "../../components/providers/caddyConfig";
import { hostNames } from "../../infra/names";
import { containerNginxMain } from "../../components/providers/nginxConfig";
import { routerLayout } from "../../components/providers/routerState";
import { HttpsLoad } from "../support/https";
import { type Pebble, startPebble } from "../support/pebble";
import { delay, run, runChecked } from "../support/process";
import { newDevStack, type TestStack } from "./support/engine";
import { assertRotatedWithoutLoss, inRouter, routerWorkers } from "./support/routerTls";

const httpPort = 8080;
const httpsPort = 8443;
const host = "app.switchyard.test";
const refusedHost = "refused.switchyard.test";
const site = `https://127.0.0.1:${httpsPort}/`;
/** Short enough that every check of the client finds fewer than 30 days left, so it renews each time. */
const validitySeconds = 300;
const checkIntervalSeconds = 10;
const { stateDir } = containerNginxMain;
const layout = routerLayout(stateDir);

interface Served {
  certificate: X509Certificate;
  status: number;
  body: string;
}

/** A GET over a new connection for `host`, trusting only `ca`: it fails unless the chain verifies. */
function verifiedGet(ca: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    https
      .get(site, { ca, servername: host, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
        const certificate = (res.socket as TLSSocket).getPeerX509Certificate();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () =>
          certificate
            ? resolve({ certificate, status: res.statusCode ?? 0, body })
            : reject(new Error("no peer certificate")),
        );
      })
      .on("error", reject);
  });
}

/** The slot that answered, as the demo app says. */
function slotOf(served: Served): string | undefined {
  return (JSON.parse(served.body) as { slot?: string }).slot;
}

/** The serial of the certificate new handshakes get, whether or not it verifies. */
function servedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(site, { rejectUnauthorized: false, servername: host, agent: false, timeout: 10_000 }, (res) => {
        const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? "";
        res.resume();
        res.on("end", () => resolve(serial));
      })
      .on("error", reject);
  });
}

/** Polls `probe` every second until it gives a value, or fails after `timeoutMs` saying what it waited for. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(1000);
  }
}

/** The dev stack on HTTPS port 8443 for `host`, its certificates from `pebble`. */
async function newAcmeStack(pebble: Pebble): Promise<TestStack> {
  const stack = await newDevStack();
  await stack.pulumiChecked(["config", "set", "--path", "router.httpsPort", String(httpsPort)]);
  await stack.pulumiChecked([
    "config",
    "set",
    "--path",
    "router.tls.acme.checkIntervalSeconds",
    String(checkIntervalSeconds),
  ]);
  for (const [key, value] of [
    ["router.serverName", host],
    ["router.tls.acme.email", "ops@switchyard.test"],
    ["router.tls.acme.directory", pebble.directoryUrl],
    ["router.tls.acme.directoryCertificate", pebble.endpointRootPem],
  ])
    await stack.setText(key, value);
  return stack;
}

/**
 * What a user checks after `pulumi up`: blue answers over HTTPS for `host` with a chain to
 * Pebble's root, the stack output has that certificate's expiry, and plain HTTP redirects.
 */
async function assertServedWithPebbleChain(stack: TestStack, pebble: Pebble): Promise<void> {
  const served = await verifiedGet(await pebble.issuerRootsPem());
  assert.deepEqual({ status: served.status, slot: slotOf(served) }, { status: 200, slot: "blue" });
  assert.equal(served.certificate.subjectAltName, `DNS:${host}`);
  const outputs = await stack.outputs();
  assert.equal(outputs.certificateExpiresAt, new Date(served.certificate.validTo).toISOString());
  const plain = await runChecked("curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `http://127.0.0.1:${httpPort}/`,
  ]);
  assert.equal(plain.stdout, "308", "plain HTTP redirects (it answers only the CA's tokens)");
}

/** What `pulumi destroy` must leave: no router, no ACME client, no state volume with its keys. */
async function assertRouterGone(): Promise<void> {
  const names = hostNames(undefined);
  for (const container of [names.router, names.acmeClient])
    assert.notEqual(
      (await run("docker", ["container", "inspect", container])).code,
      0,
      `${container} is gone`,
    );
  assert.notEqual(
    (await run("docker", ["volume", "inspect", names.routerState])).code,
    0,
    "the router's state volume, keys and all, is gone",
  );
}

describe("automatic HTTPS from an ACME CA through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;
  let pebble: Pebble;

  before(async () => {
    pebble = await startPebble({ validationHttpPort: httpPort, validitySeconds });
    stack = await newAcmeStack(pebble);
  });

  after(async () => {
    try {
      await stack?.teardown();
    } finally {
      await pebble?.stop();
    }
  });

  it("gets the first certificate during `pulumi up`, and serves HTTPS with a chain Pebble signed", async () => {
    const up = await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.match(up.output, new RegExp(`asking the ACME client for a certificate for ${host}`));

    await assertServedWithPebbleChain(stack, pebble);

    // The key nginx reads is its workers' alone; the client's account and keys are root's alone.
    assert.equal(
      await inRouter(`stat -c '%U %a' ${layout.certificate}/ ${layout.certificate}/privkey.pem`),
      `${containerNginxMain.user} 700\n${containerNginxMain.user} 600`,
    );
    assert.equal(await inRouter(`stat -c '%U %a' ${layout.acme}`), "root 700");
    assert.equal(await inRouter(`find ${layout.acme} -perm /077 | wc -l`), "0");
    assert.doesNotMatch(await stack.exportState(), /PRIVATE KEY/, "no key in the state");

    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("renews short-lived certificates on the target under HTTPS keep-alive load: no reload, no request lost", async () => {
    const before = await routerWorkers();
    const load = new HttpsLoad(site, 8);
    const serials = [await servedSerial()];
    try {
      // Each check of the client renews (fewer than 30 days are left): three renewals in a row.
      while (serials.length < 4) {
        const previous = serials[serials.length - 1];
        serials.push(
          await eventually("a renewed certificate", 90_000, async () => {
            const serial = await servedSerial();
            return serial !== previous ? serial : undefined;
          }),
        );
      }
    } finally {
      await load.stop();
    }
    await assertRotatedWithoutLoss(load, before);
    const log = await runChecked("docker", ["logs", "router-acme"]);
    assert.match(log.stderr + log.stdout, /new handshakes get certificate acme-/);
    // The renewals happened on the target: the stack sees nothing to do.
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("fails `pulumi up` with the CA's reason when it refuses an order, and moves nothing", async () => {
    await pebble.refuse(refusedHost);
    await stack.pulumiChecked(["config", "set", "--path", "router.serverName", `${host} ${refusedHost}`]);
    const up = await stack.pulumi(["up", "--yes", "--skip-preview"], 600_000);
    assert.notEqual(up.code, 0);
    assert.match(up.output, new RegExp(`no certificate for ${host}, ${refusedHost}`));
    assert.match(up.output, /urn:ietf:params:acme:error:/);
    assert.match(up.output, /traffic has not moved/);
    // Still blue, over HTTPS with a certificate of the names it had.
    const served = await verifiedGet(await pebble.issuerRootsPem());
    assert.deepEqual({ status: served.status, slot: slotOf(served) }, { status: 200, slot: "blue" });
    assert.equal(served.certificate.subjectAltName, `DNS:${host}`);

    await pebble.allow(refusedHost);
    await stack.pulumiChecked(["config", "set", "--path", "router.serverName", host]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });

  it("keeps the valid certificate when the CA is gone at renewal, and `pulumi refresh` shows the failure", async () => {
    // Pebble's root, fetched while it runs: the chain still verifies against it after it stopped.
    const ca = await pebble.issuerRootsPem();
    const lastError = () => inRouter(`cat ${layout.acme}/last-error 2>/dev/null || true`);
    const beforeStop = await lastError();
    await pebble.stop();
    const error = await eventually("the client's renewal failure", 60_000, async () => {
      const text = await lastError();
      return text === "" || text === beforeStop ? undefined : text;
    });
    assert.match(error, /connection refused|dial tcp/i);
    // A renewal already past the CA when it stopped may have installed one more certificate: the
    // one served now must stay, through the next failed attempt, and keep verifying.
    const live = await verifiedGet(ca);
    await eventually("the next failed attempt", 60_000, async () =>
      (await lastError()) !== error ? true : undefined,
    );
    const still = await verifiedGet(ca);
    assert.equal(still.certificate.serialNumber, live.certificate.serialNumber, "the live certificate stays");

    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"], 300_000);
    const state = JSON.parse(await stack.exportState()) as {
      deployment: { resources: { type: string; outputs?: Record<string, unknown> }[] };
    };
    const upstream = state.deployment.resources.find((r) => r.type.endsWith("NginxUpstream"));
    assert.match(String(upstream?.outputs?.renewalError), /connection refused|dial tcp/i);
    assert.equal(upstream?.outputs?.certificateExpiresAt, new Date(live.certificate.validTo).toISOString());
  });

  it("`pulumi destroy` removes the client, the certificates and their keys", async () => {
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000);
    await assertRouterGone();
  });
});

describe("the caddy router's automatic HTTPS through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;
  let pebble: Pebble;

  before(async () => {
    pebble = await startPebble({ validationHttpPort: httpPort });
    stack = await newAcmeStack(pebble);
    await stack.pulumiChecked(["config", "set", "--path", "router.kind", "caddy"]);
    // The name `npm run engine` gives its Caddy image.
    await stack.pulumiChecked(["config", "set", "--path", "router.image", "caddy:2.11"]);
  });

  after(async () => {
    try {
      await stack?.teardown();
    } finally {
      await pebble?.stop();
    }
  });

  it("has Caddy get the certificate itself during `pulumi up`, serves Pebble's chain, and destroy takes its keys", async () => {
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    await assertServedWithPebbleChain(stack, pebble);
    assert.notEqual(
      (await run("docker", ["container", "inspect", "router-acme"])).code,
      0,
      "no client beside it",
    );
    const caddyState = routerLayout(containerCaddy.stateDir).acme;
    assert.equal(
      await inRouter(`find ${caddyState} -name '*.key' | wc -l`),
      "2",
      "the account's key and the certificate's",
    );
    assert.equal(await inRouter(`find ${caddyState} -type f -perm /077 | wc -l`), "0");

    await stack.pulumiChecked(["refresh", "--yes", "--skip-preview"], 300_000);
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
    await stack.pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000);
    await assertRouterGone();
  });
});
