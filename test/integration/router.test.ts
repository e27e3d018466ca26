/**
 * The router's rendered configuration against Debian's real nginx: every variant passes
 * `nginx -t`, and the site-apply script moves traffic between two real backends and refuses
 * a bad site while nginx keeps serving the old one.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  type RouterSite,
  renderApplySiteScript,
  renderRouterSite,
} from "../../components/providers/nginxConfig";
import type { SlotColour } from "../../infra/config";
import {
  makeNginxPrefix,
  type NginxPrefix,
  NginxServer,
  selfSignedCertificate,
  testConfig,
} from "../support/nginx";
import { freePort, httpGet } from "../support/process";

function backend(colour: SlotColour): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    res.setHeader("X-Slot", colour);
    res.end(JSON.stringify({ slot: colour }));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function addressOf(server: http.Server): string {
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Runs the apply script as the router step does: `sh -ec <script>`, the site on stdin. */
function applySite(prefix: NginxPrefix, site: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-ec", renderApplySiteScript(prefix.sitePath, prefix.command)]);
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(site);
  });
}

async function slotsServing(url: string, requests: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < requests; i++) {
    const res = await httpGet(url);
    assert.equal(res.status, 200, res.body);
    const slot = String(res.headers["x-slot"]);
    seen.set(slot, (seen.get(slot) ?? 0) + 1);
  }
  return seen;
}

describe("router configuration against real nginx", () => {
  let blue: http.Server;
  let green: http.Server;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    blue = await backend("blue");
    green = await backend("green");
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  after(() => {
    blue.close();
    green.close();
  });

  async function site(overrides: Partial<RouterSite>): Promise<RouterSite> {
    return {
      upstreams: { blue: addressOf(blue), green: addressOf(green) },
      activeSlot: "blue",
      canaryWeight: 0,
      serverName: "localhost",
      listen: { http: await freePort(), https: await freePort() },
      ...overrides,
    };
  }

  it("every rendered variant passes nginx -t", async () => {
    const prefix = makeNginxPrefix();
    cleanups.push(async () => fs.rmSync(prefix.dir, { recursive: true, force: true }));
    const tls = await selfSignedCertificate(prefix.dir);
    let variants = 0;
    for (const activeSlot of ["blue", "green"] as const) {
      for (const canaryWeight of [0, 1, 25, 99, 100]) {
        for (const withTls of [false, true]) {
          fs.writeFileSync(
            prefix.sitePath,
            renderRouterSite(await site({ activeSlot, canaryWeight, tls: withTls ? tls : undefined })),
          );
          const result = await testConfig(prefix);
          assert.equal(result.code, 0, `${activeSlot}/${canaryWeight}/${withTls}: ${result.output}`);
          variants++;
        }
      }
    }
    assert.equal(variants, 20);
  });

  it("switches between two live backends and refuses a bad site, leaving the old one serving", async () => {
    const prefix = makeNginxPrefix();
    const routerSite = await site({});
    fs.writeFileSync(prefix.sitePath, renderRouterSite(routerSite));
    const nginx = new NginxServer(prefix);
    cleanups.push(() => nginx.stop());
    await nginx.started();
    const url = `http://127.0.0.1:${routerSite.listen.http}/`;
    assert.deepEqual([...(await slotsServing(url, 5)).keys()], ["blue"]);

    const toGreen = await applySite(prefix, renderRouterSite({ ...routerSite, activeSlot: "green" }));
    assert.equal(toGreen.code, 0, toGreen.output);
    // A reload hands over to new workers; old ones may still accept a connection for a moment.
    await waitForSlot(url, "green");

    const liveSite = fs.readFileSync(prefix.sitePath, "utf8");
    const broken = await applySite(prefix, `${liveSite}\nupstream broken { server; }\n`);
    assert.equal(broken.code, 1);
    assert.match(broken.output, /\[emerg\]/, `nginx own message is passed on: ${broken.output}`);
    assert.match(broken.output, /previous one stays live/);
    assert.equal(fs.readFileSync(prefix.sitePath, "utf8"), liveSite, "the live site file is untouched");
    assert.deepEqual([...(await slotsServing(url, 5)).keys()], ["green"]);
  });

  it("splits traffic by the canary weight", async () => {
    const prefix = makeNginxPrefix();
    const routerSite = await site({ canaryWeight: 50 });
    fs.writeFileSync(prefix.sitePath, renderRouterSite(routerSite));
    const nginx = new NginxServer(prefix);
    cleanups.push(() => nginx.stop());
    await nginx.started();
    const seen = await slotsServing(`http://127.0.0.1:${routerSite.listen.http}/`, 100);
    // Each worker keeps its own round-robin position, so the split is even per worker, not overall.
    assert.ok((seen.get("blue") ?? 0) >= 35 && (seen.get("green") ?? 0) >= 35, JSON.stringify([...seen]));
  });
});

/** Waits until 20 requests in a row reach `slot`. */
async function waitForSlot(url: string, slot: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let inARow = 0;
  while (inARow < 20) {
    inARow = (await httpGet(url)).headers["x-slot"] === slot ? inARow + 1 : 0;
    if (Date.now() > deadline) throw new Error(`router did not settle on ${slot}`);
  }
}
