/**
 * Switching under keep-alive load through real nginx, in one run:
 *
 * - static: plain nginx proxying to one upstream, never switched (the reference);
 * - switchyard idle: switchyard's configuration, never switched (the cost of the mechanism);
 * - njs idle: the alternative mechanism, an njs `js_set` reading a pointer file per request,
 *   never switched (when Debian's njs module is installed);
 * - reload: the seeds' switch, rewrite the upstream and `nginx -s reload`;
 * - switchyard: the RouterUpstream provider's update, pointer swap plus post-switch check;
 * - and the same through Caddy (the router kind `caddy`, the Caddy `npm run engine` builds):
 *   caddy idle, caddy reload (a new upstream loaded through Caddy's admin endpoint, `caddy
 *   reload`), caddy switchyard (the same provider's update on Caddy).
 *
 * The load is autocannon over 32 keep-alive connections in its own process; the slots are a
 * second nginx answering for blue and green, cheap enough not to be the bottleneck. Router CPU
 * per request is read from /proc (workers, and reaped old workers for the reload phase), a
 * steadier figure than requests per second on a shared machine.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { proxySettings, securityHeaders } from "../components/providers/nginxConfig";
import type { SlotColour } from "../infra/config";
import {
  type AppliedRouter,
  createRouter,
  keepAliveLoad,
  type LoadResult,
  nginxBinary,
  type RouterChoice,
  TestRouter,
  updateRouter,
} from "../test/support/nginx";
import { caddyBinary, TestCaddyRouter } from "../test/support/caddy";
import { Background, freePort, httpGet, run, waitForHttp } from "../test/support/process";
import { responseHeaders } from "../components/providers/routerState";
import { type BenchReport, median, round } from "./report";

/** Each phase runs once per round; rounds alternate the phases so drift on a shared machine hits all alike. */
const rounds = 2;
const switchesPerRound = 10;
/** One switch every this long, in both switching phases. */
const switchEveryMs = 450;
const warmUpMs = 1000;
/** Consecutive requests on the new slot, on new connections, that count as "all new requests". */
const settledAfter = 20;
const versions: Record<SlotColour, string> = { blue: "1.0.0", green: "2.0.0" };
const clockTicksPerSecond = 100;
/** Debian's libnginx-mod-http-js; the official image has it at modules/ngx_http_js_module.so. */
const njsModule = "/usr/lib/nginx/modules/ngx_http_js_module.so";

/** Blue and green as one small nginx: a health answer with the version, and a named page. */
export async function startSlots(): Promise<{
  upstreams: Record<SlotColour, string>;
  stop(): Promise<void>;
}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-slots-"));
  const ports = { blue: await freePort(), green: await freePort() };
  const server = (colour: SlotColour) => [
    "    server {",
    `        listen 127.0.0.1:${ports[colour]};`,
    "        keepalive_requests 10000000;",
    "        location = /health {",
    "            default_type application/json;",
    `            return 200 '{"status":"healthy","version":"${versions[colour]}"}';`,
    "        }",
    "        location / {",
    `            add_header X-Slot ${colour};`,
    `            return 200 "${colour}\\n";`,
    "        }",
    "    }",
  ];
  const config = [
    "worker_processes 1;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    "events { worker_connections 4096; }",
    "http {",
    "    access_log off;",
    ...server("blue"),
    ...server("green"),
    "}",
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dir, "nginx.conf"), config);
  const nginx = new Background(nginxBinary, [
    "-p",
    dir,
    "-c",
    path.join(dir, "nginx.conf"),
    "-g",
    "daemon off;",
  ]);
  await waitForHttp(`http://127.0.0.1:${ports.green}/health`);
  return {
    upstreams: { blue: `127.0.0.1:${ports.blue}`, green: `127.0.0.1:${ports.green}` },
    async stop() {
      await nginx.stop("SIGQUIT", 3000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The seeds' site: one upstream naming the active slot, changed by rewriting it and reloading.
 * Same proxy settings and headers as switchyard's, so the comparison is of the switching alone.
 */
function plainSite(router: TestRouter, upstream: string): string {
  return [
    "upstream app {",
    `    server ${upstream} max_fails=0;`,
    "    keepalive 32;",
    "}",
    "server {",
    `    listen ${router.listen.http} default_server;`,
    ...securityHeaders.map((header) => `    ${header}`),
    "    location / {",
    "        proxy_pass http://app;",
    ...proxySettings.map((setting) => `        ${setting}`),
    "    }",
    "}",
    "",
  ].join("\n");
}

/**
 * The njs alternative: both upstreams, and `js_set` picking one from a pointer file read on every
 * request (njs 0.7 keeps nothing between requests, so there is nothing to cache it in).
 */
function njsSite(router: TestRouter, upstreams: Record<SlotColour, string>): string {
  const pointer = path.join(router.prefix.dir, "pointer");
  const script = path.join(router.prefix.dir, "pointer.js");
  fs.writeFileSync(pointer, "blue\n");
  fs.writeFileSync(
    script,
    [
      'const fs = require("fs");',
      "function upstream(r) {",
      `  return fs.readFileSync(${JSON.stringify(pointer)}, "utf8").trim() === "green" ? "slot_green" : "slot_blue";`,
      "}",
      "export default { upstream };",
      "",
    ].join("\n"),
  );
  return [
    ...(["blue", "green"] as const).flatMap((colour) => [
      `upstream slot_${colour} {`,
      `    server ${upstreams[colour]} max_fails=0;`,
      "    keepalive 32;",
      "}",
    ]),
    `js_import pointer from ${script};`,
    "js_set $slot_upstream pointer.upstream;",
    "server {",
    `    listen ${router.listen.http} default_server;`,
    ...securityHeaders.map((header) => `    ${header}`),
    "    location / {",
    "        proxy_pass http://$slot_upstream;",
    ...proxySettings.map((setting) => `        ${setting}`),
    "    }",
    "}",
    "",
  ].join("\n");
}

/** Puts a hand-written site where the main configuration includes the live generation, and reloads. */
async function setSite(router: TestRouter, site: string): Promise<void> {
  const liveDir = path.join(router.prefix.main.stateDir, "current");
  fs.mkdirSync(liveDir, { recursive: true });
  fs.writeFileSync(path.join(liveDir, "site.conf"), site);
  const reload = await run(router.prefix.command[0], [
    ...router.prefix.command.slice(1),
    "-c",
    router.prefix.mainConfig,
    "-s",
    "reload",
  ]);
  if (reload.code !== 0) throw new Error(`nginx -s reload failed: ${reload.output}`);
}

/**
 * Caddy's equivalent of the seeds' switch: a configuration proxying to one upstream, with the
 * same headers as switchyard's Caddy site, loaded anew through the admin endpoint.
 */
function plainCaddyConfig(router: TestCaddyRouter, upstream: string): string {
  const headers = Object.fromEntries(Object.entries(responseHeaders).map(([name, value]) => [name, [value]]));
  return JSON.stringify({
    admin: { listen: router.server.adminAddress, config: { persist: false } },
    apps: {
      http: {
        servers: {
          public: {
            listen: [`127.0.0.1:${router.listen.http}`],
            automatic_https: { disable: true },
            routes: [
              { handle: [{ handler: "headers", response: { set: headers, deferred: true } }] },
              { handle: [{ handler: "reverse_proxy", upstreams: [{ dial: upstream }] }] },
            ],
          },
        },
      },
    },
  });
}

async function loadCaddyConfig(router: TestCaddyRouter, config: string): Promise<void> {
  const file = path.join(router.dir, "plain.json");
  fs.writeFileSync(file, config);
  const loaded = await run(caddyBinary, [
    "reload",
    "--config",
    file,
    "--address",
    router.server.adminAddress,
  ]);
  if (loaded.code !== 0) throw new Error(`caddy reload failed: ${loaded.output}`);
}

/** A router under load: where it answers, and the CPU time it has used so far. */
interface Measured {
  url: string;
  cpuMs(): number;
}

function measuredNginx(router: TestRouter): Measured {
  return { url: router.url, cpuMs: () => routerCpuMs(router) };
}

/** Caddy is one process: its own CPU time. */
function measuredCaddy(router: TestCaddyRouter): Measured {
  return { url: router.url, cpuMs: () => processCpuMs(router.process.child.pid ?? 0) };
}

function processFields(pid: number): number[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
}

function processCpuMs(pid: number): number {
  // utime, stime are fields 14-15, i.e. 11-12 after the command name.
  const [utime, stime] = processFields(pid).slice(11, 13);
  return ((utime + stime) * 1000) / clockTicksPerSecond;
}

/** CPU time (ms) of the router's master, its live workers and the workers it has reaped. */
function routerCpuMs(router: TestRouter): number {
  const master = Number(fs.readFileSync(router.prefix.main.pidFile, "utf8"));
  const fields = processFields;
  // utime, stime, cutime, cstime are fields 14-17, i.e. 11-14 after the command name.
  const [utime, stime, cutime, cstime] = fields(master).slice(11, 15);
  let ticks = utime + stime + cutime + cstime;
  for (const worker of router.workerPids()) {
    try {
      const [workerUtime, workerStime] = fields(worker).slice(11, 13);
      ticks += workerUtime + workerStime;
    } catch {
      // Exited (and reaped into cutime/cstime) since it was listed.
    }
  }
  return (ticks * 1000) / clockTicksPerSecond;
}

/**
 * After a switch call returned: new requests, each on a new connection, until `settledAfter` in
 * a row reach `slot`. Returns how long after the return the last one reached another slot.
 */
async function settleTime(url: string, slot: SlotColour, returnedAt: number): Promise<number> {
  let lastElsewhere = returnedAt;
  for (let inARow = 0; inARow < settledAfter;) {
    const res = await httpGet(url);
    if (res.status === 200 && res.headers["x-slot"] === slot) inARow++;
    else {
      inARow = 0;
      lastElsewhere = performance.now();
    }
  }
  return lastElsewhere - returnedAt;
}

interface Phase {
  name: string;
  load: LoadResult;
  cpuUsPerRequest: number;
  switchCallsMs: number[];
  settleMs: number[];
}

/** Runs load on `router` while `switchTo` is called every `switchEveryMs` (or not at all). */
async function measure(
  name: string,
  router: Measured,
  switchTo: ((slot: SlotColour) => Promise<void>) | undefined,
): Promise<Phase> {
  const url = `${router.url}/`;
  const cpuBefore = router.cpuMs();
  const load = await keepAliveLoad(url, 32);
  const switchCallsMs: number[] = [];
  const settleMs: number[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, warmUpMs));
    for (let i = 0; i < switchesPerRound; i++) {
      const started = performance.now();
      if (switchTo) {
        const slot: SlotColour = i % 2 === 0 ? "green" : "blue";
        await switchTo(slot);
        const returnedAt = performance.now();
        switchCallsMs.push(returnedAt - started);
        settleMs.push(await settleTime(url, slot, returnedAt));
      }
      const rest = switchEveryMs - (performance.now() - started);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
  } catch (error) {
    await load.stop();
    throw error;
  }
  const result = await load.stop();
  const cpuMs = router.cpuMs() - cpuBefore;
  return { name, load: result, cpuUsPerRequest: (cpuMs * 1000) / result.requests, switchCallsMs, settleMs };
}

export default async function switchUnderLoad(): Promise<BenchReport> {
  const slots = await startSlots();
  const routers: TestRouter[] = [];
  const caddyRouters: TestCaddyRouter[] = [];
  const startRouter = async (prelude?: string) => {
    const router = await TestRouter.start(prelude);
    routers.push(router);
    return router;
  };
  try {
    const phases: Phase[] = [];

    const plainRouter = await startRouter();
    const setPlainSite = (slot: SlotColour) =>
      setSite(plainRouter, plainSite(plainRouter, slots.upstreams[slot]));
    await setPlainSite("blue");
    await waitForHttp(`${plainRouter.url}/`, (res) => res.headers["x-slot"] === "blue");

    const njsRouter = fs.existsSync(njsModule) ? await startRouter(`load_module ${njsModule};\n`) : undefined;
    if (njsRouter) {
      await setSite(njsRouter, njsSite(njsRouter, slots.upstreams));
      await waitForHttp(`${njsRouter.url}/`, (res) => res.headers["x-slot"] === "blue");
    }

    const router = await startRouter();
    const caddy = await TestCaddyRouter.start();
    caddyRouters.push(caddy);
    const caddyPlain = await TestCaddyRouter.start();
    caddyRouters.push(caddyPlain);
    const setCaddyPlain = (slot: SlotColour) =>
      loadCaddyConfig(caddyPlain, plainCaddyConfig(caddyPlain, slots.upstreams[slot]));
    await setCaddyPlain("blue");
    await waitForHttp(`${caddyPlain.url}/`, (res) => res.headers["x-slot"] === "blue");
    const choice = (activeSlot: SlotColour): RouterChoice => ({
      upstreams: slots.upstreams,
      activeSlot,
      canaryWeight: 0,
      expectedVersion: versions[activeSlot],
      stableForMs: 200,
    });
    let applied: AppliedRouter = await createRouter(router.inputs(choice("blue")));
    const switchyardSwitch = async (slot: SlotColour) => {
      applied = await updateRouter(applied, router.inputs(choice(slot)));
    };
    let appliedCaddy: AppliedRouter = await createRouter(caddy.inputs(choice("blue")));
    const caddySwitch = async (slot: SlotColour) => {
      appliedCaddy = await updateRouter(appliedCaddy, caddy.inputs(choice(slot)));
    };

    const nginx = { plain: measuredNginx(plainRouter), switchyard: measuredNginx(router) };
    for (let round = 0; round < rounds; round++) {
      phases.push(await measure("static", nginx.plain, undefined));
      phases.push(await measure("switchyard idle", nginx.switchyard, undefined));
      if (njsRouter) phases.push(await measure("njs idle", measuredNginx(njsRouter), undefined));
      phases.push(await measure("reload", nginx.plain, setPlainSite));
      phases.push(await measure("switchyard", nginx.switchyard, switchyardSwitch));
      phases.push(await measure("caddy idle", measuredCaddy(caddy), undefined));
      phases.push(await measure("caddy reload", measuredCaddy(caddyPlain), setCaddyPlain));
      phases.push(await measure("caddy switchyard", measuredCaddy(caddy), caddySwitch));
    }
    const notes = njsRouter ? [] : [`no njs module at ${njsModule}: the njs idle phase was skipped`];
    return report(phases, notes);
  } finally {
    for (const router of [...routers, ...caddyRouters]) await router.stop();
    await slots.stop();
  }
}

/** One phase's rounds together: counts summed, rates over the whole time, p99 the worst round's. */
function combine(rounds: Phase[]) {
  const requests = rounds.reduce((sum, phase) => sum + phase.load.requests, 0);
  const seconds = rounds.reduce((sum, phase) => sum + phase.load.durationSeconds, 0);
  const cpuUs = rounds.reduce((sum, phase) => sum + phase.cpuUsPerRequest * phase.load.requests, 0);
  return {
    requests,
    non2xx: rounds.reduce((sum, phase) => sum + phase.load.non2xx, 0),
    socketErrors: rounds.reduce((sum, phase) => sum + phase.load.errors + phase.load.timeouts, 0),
    requestsPerSecond: requests / seconds,
    p50Ms: median(rounds.map((phase) => phase.load.p50Ms)),
    p99Ms: Math.max(...rounds.map((phase) => phase.load.p99Ms)),
    cpuUsPerRequest: cpuUs / requests,
    switchCallsMs: rounds.flatMap((phase) => phase.switchCallsMs),
    settleMs: rounds.flatMap((phase) => phase.settleMs),
  };
}

function report(phases: Phase[], extraNotes: string[]): BenchReport {
  const names = [...new Set(phases.map((phase) => phase.name))];
  const combined = Object.fromEntries(
    names.map((name) => [name, combine(phases.filter((phase) => phase.name === name))]),
  );
  const staticRps = combined.static.requestsPerSecond;
  const staticCpu = combined.static.cpuUsPerRequest;
  const figures: BenchReport["figures"] = {};
  const table = names.map((name) => {
    const phase = combined[name];
    const key = name.replace(/ (\w)/g, (_, letter: string) => letter.toUpperCase());
    const switched = phase.switchCallsMs.length > 0;
    Object.assign(figures, {
      [`${key}Requests`]: phase.requests,
      [`${key}Non2xx`]: phase.non2xx,
      [`${key}SocketErrors`]: phase.socketErrors,
      [`${key}Rps`]: round(phase.requestsPerSecond, 0),
      [`${key}ThroughputRatio`]: round(phase.requestsPerSecond / staticRps, 3),
      [`${key}P50Ms`]: phase.p50Ms,
      [`${key}P99Ms`]: phase.p99Ms,
      [`${key}RouterCpuUsPerRequest`]: round(phase.cpuUsPerRequest, 1),
      [`${key}RouterCpuRatio`]: round(phase.cpuUsPerRequest / staticCpu, 3),
    });
    if (switched) {
      Object.assign(figures, {
        [`${key}Switches`]: phase.switchCallsMs.length,
        [`${key}SwitchCallMedianMs`]: round(median(phase.switchCallsMs), 1),
        [`${key}AllNewRequestsOnNewSlotMedianMs`]: round(median(phase.settleMs), 1),
        [`${key}AllNewRequestsOnNewSlotMaxMs`]: round(Math.max(...phase.settleMs), 1),
      });
    }
    return {
      phase: name,
      switches: phase.switchCallsMs.length,
      requests: phase.requests,
      non2xx: phase.non2xx,
      "socket errors": phase.socketErrors,
      "req/s": round(phase.requestsPerSecond, 0),
      "vs static": round(phase.requestsPerSecond / staticRps, 3),
      "p50 ms": phase.p50Ms,
      "p99 ms": phase.p99Ms,
      "router CPU us/req": round(phase.cpuUsPerRequest, 1),
      "switch call ms (median)": switched ? round(median(phase.switchCallsMs), 1) : "-",
      "all new on new slot ms (median/max)": switched
        ? `${round(median(phase.settleMs), 1)}/${round(Math.max(...phase.settleMs), 1)}`
        : "-",
    };
  });
  return {
    name: "switch",
    table,
    figures,
    notes: [
      `${rounds} rounds, each phase once per round in the order above; ${switchesPerRound} switches per ` +
        `switching phase and round, one every ${switchEveryMs} ms, blue<->green; 32 keep-alive connections (autocannon)`,
      "switchyard's switch call includes its post-switch check through the router " +
        "(200 ms window here; production uses health.postSwitchStableForSeconds)",
      `"all new on new slot": time from the switch call returning until the last of ${settledAfter} ` +
        "back-to-back new requests that reached the old slot (0 = none did)",
      "router CPU us/req: nginx master and worker CPU time (reaped old workers included), or Caddy's " +
        "process CPU time, over the phase, divided by requests; steadier than req/s on a shared machine",
      "caddy idle and caddy switchyard: switchyard's Caddy site (compression on, the slots' answers too small " +
        "to compress); caddy reload: a plain reverse_proxy to one slot with the same headers, loaded anew per switch",
      ...extraNotes,
    ],
  };
}
