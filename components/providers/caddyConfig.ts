/**
 * Caddy's configuration for the router kind `caddy`, rendered as Caddy's own JSON by pure
 * functions (tests feed every output to a real `caddy validate`), over the same state directory
 * as nginx's (routerState.ts).
 *
 * Traffic is read per request, as nginx reads it: Caddy's `file` matcher stats the route's files
 * under the `live` link on every request (`routed`, then `green.<bucket>`), so a switch is one
 * rename and loads no configuration. Loading one replaces Caddy's servers: the old ones close
 * their idle keep-alive connections, and a client that sends on one of them as it closes loses
 * its request, the loss the pointer avoids. The bucket is the first byte of the request's random
 * UUID, two hex digits: 256 buckets, so a canary weight gets the nearest multiple of 1/256 (10%
 * is 26 buckets, 10.2%). Caddy has no hash of a cookie or header to draw a bucket from, so a
 * canary pinned per user (`router.canaryKey`) is nginx's only.
 *
 * For the post-switch window the public route proxies to the new slot with the previous one
 * second (`lb_policy first`): a request that cannot connect to the new slot marks it down for a
 * second and is retried on the previous one. Caddy retries a request that was sent only when it
 * is a GET, so a POST is never run twice.
 *
 * A site generation is a whole configuration, `sites/<id>/caddy.json`, checked by `caddy
 * validate` and loaded through the admin endpoint (a unix socket in the container, so routers of
 * several deployments on one host's network never share a port for it).
 */
import type { SlotColour } from "../../infra/stackKeys";
import {
  type BucketScheme,
  fallbackEntry,
  generationDirToken,
  generationProbePath,
  idleSlot,
  responseHeaders,
  routedEntry,
  type RouterSite,
  routerLayout,
} from "./routerState";

/** The site generation's one file. */
export const caddySiteFile = "caddy.json";

/** 256 buckets named by two hex digits: the first byte of `{http.request.uuid}`. */
export const caddyBuckets: BucketScheme = {
  count: 256,
  name: (bucket) => bucket.toString(16).padStart(2, "0"),
};

/** Where things live in the router container. */
export const containerCaddy = {
  stateDir: "/etc/caddy/switchyard",
  bootConfig: "/etc/caddy/switchyard-boot.json",
  adminAddress: "unix//run/caddy-admin.sock",
};

/** The configuration Caddy starts with, and loads when no site is live: its admin endpoint and nothing else. */
export function renderCaddyBoot(adminAddress: string): string {
  return `${JSON.stringify({ admin: adminConfig(adminAddress) }, null, 2)}\n`;
}

function adminConfig(adminAddress: string) {
  // Not persisted: the state directory's `current` is what Caddy starts with.
  return { listen: adminAddress, config: { persist: false } };
}

type Route = Record<string, unknown>;

const slotVariable = "switchyard_slot";
const fallbackVariable = "switchyard_fallback";
/** `<slot><fallback>`: Caddy's `vars` matcher is true when any one of its variables matches, so one variable holds both. */
const routeVariable = "switchyard_route";
const fallbackMark = "-fallback";
const bucketVariable = "switchyard_bucket";

/** Matches when `name` exists under `root`, looked up on every request. */
function fileExists(root: string, name: string) {
  return { file: { root, try_files: [name] } };
}

function setVariables(variables: Record<string, string>) {
  return { handler: "vars", ...variables };
}

/** The headers of every response; deferred, so they replace what a slot sent. */
function headersRoute(): Route {
  const set = Object.fromEntries(Object.entries(responseHeaders).map(([name, value]) => [name, [value]]));
  return { handle: [{ handler: "headers", response: { set, delete: ["Server"], deferred: true } }] };
}

/**
 * The slot's route to the slot (`upstreams`), the previous slot after it when `fallback`. The
 * headers are nginx's (`proxySettings`); Caddy sets X-Forwarded-For and -Proto and keeps Host.
 */
function proxy(upstreams: Record<SlotColour, string>, colour: SlotColour, fallback: boolean) {
  const dial = (slot: SlotColour) => ({ dial: upstreams[slot] });
  return {
    handler: "reverse_proxy",
    upstreams: fallback ? [dial(colour), dial(idleSlot(colour))] : [dial(colour)],
    headers: {
      request: {
        set: { "X-Real-IP": ["{http.request.remote.host}"], "X-Request-Id": ["{http.request.uuid}"] },
      },
    },
    ...(fallback
      ? {
          load_balancing: { selection_policy: { policy: "first" }, retries: 1 },
          health_checks: { passive: { fail_duration: "1s", max_fails: 1 } },
        }
      : {}),
  };
}

/**
 * Routes that read the pointer and proxy: `green` is the entry that sends a request to green
 * (`green.<bucket>`, or `green.active` on the check listener). With no pointer, a 503.
 */
function routing(site: RouterSite, green: string, withFallback: boolean): Route[] {
  const live = routerLayout(site.stateDir).live;
  const fallbacks = withFallback ? [false, true] : [false];
  return [
    { handle: [setVariables({ [slotVariable]: "", [fallbackVariable]: "" })] },
    // Read first, as nginx does: a switch back between the reads still lands on a route with a fallback.
    ...(withFallback
      ? [
          {
            match: [fileExists(live, fallbackEntry)],
            handle: [setVariables({ [fallbackVariable]: fallbackMark })],
          },
        ]
      : []),
    { match: [fileExists(live, routedEntry)], handle: [setVariables({ [slotVariable]: "blue" })] },
    { match: [fileExists(live, green)], handle: [setVariables({ [slotVariable]: "green" })] },
    {
      handle: [
        setVariables({ [routeVariable]: `{http.vars.${slotVariable}}{http.vars.${fallbackVariable}}` }),
      ],
    },
    ...(["blue", "green"] as const).flatMap((colour) =>
      fallbacks.map((fallback) => ({
        match: [{ vars: { [routeVariable]: [`${colour}${fallback ? fallbackMark : ""}`] } }],
        handle: [proxy(site.upstreams, colour, fallback)],
        terminal: true,
      })),
    ),
    { handle: [{ handler: "static_response", status_code: 503 }] },
  ];
}

/** Every public request gets the maintenance page with a 503 while the page exists (read per request). */
function maintenanceRoute(site: RouterSite): Route {
  const { stateDir } = site;
  const page = routerLayout(stateDir).maintenancePage.slice(stateDir.length + 1);
  return {
    match: [fileExists(stateDir, page)],
    handle: [
      {
        handler: "headers",
        response: {
          set: { "Retry-After": [String(site.retryAfterSeconds)], "Cache-Control": ["no-store"] },
        },
      },
      { handler: "rewrite", uri: `/${page}` },
      { handler: "file_server", root: stateDir, status_code: 503 },
    ],
    terminal: true,
  };
}

/**
 * The whole configuration of a site generation (with `generationDirToken` for its directory):
 * the public server, and the check listener on 127.0.0.1, which serves the pointer's active
 * slot whatever the canary and the fallback, and answers the generation probe.
 */
export function renderCaddySite(site: RouterSite, adminAddress: string): string {
  if (site.tls || site.canary)
    throw new Error(
      "the caddy router serves plain HTTP and splits requests one by one (see the file comment)",
    );
  const bucket = {
    match: [{ vars_regexp: { "{http.request.uuid}": { name: bucketVariable, pattern: "^[0-9a-f]{2}" } } }],
    handle: [setVariables({ [bucketVariable]: `{http.regexp.${bucketVariable}.0}` })],
  };
  const publicServer = {
    listen: [`${site.listen.address}:${site.listen.http}`],
    automatic_https: { disable: true },
    routes: [
      headersRoute(),
      { handle: [{ handler: "encode", encodings: { zstd: {}, gzip: {} }, prefer: ["zstd", "gzip"] }] },
      maintenanceRoute(site),
      bucket,
      ...routing(site, `green.{http.vars.${bucketVariable}}`, true),
    ],
  };
  const checkServer = {
    listen: [`127.0.0.1:${site.listen.check}`],
    automatic_https: { disable: true },
    routes: [
      headersRoute(),
      {
        match: [{ path: [generationProbePath] }],
        handle: [
          {
            handler: "static_response",
            status_code: 200,
            headers: { "Content-Type": ["text/plain"] },
            body: generationDirToken,
          },
        ],
        terminal: true,
      },
      ...routing(site, "green.active", false),
    ],
  };
  const config = {
    admin: adminConfig(adminAddress),
    apps: { http: { servers: { public: publicServer, check: checkServer } } },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The files of a site generation: the configuration (with `generationDirToken` for its directory). */
export function renderCaddyFiles(site: RouterSite, adminAddress: string): Record<string, string> {
  return { [caddySiteFile]: renderCaddySite(site, adminAddress) };
}

/**
 * How the Caddy router container starts (`routerCommands.startRouter`): on the live site when
 * there is one, else on the boot configuration (`$1`).
 */
export const caddyStart = {
  test: `[ ! -e "$2/current/${caddySiteFile}" ] || caddy validate --config "$2/current/${caddySiteFile}" >/dev/null 2>&1`,
  run: [
    `if [ -e "$2/current/${caddySiteFile}" ]; then exec caddy run --config "$2/current/${caddySiteFile}"; fi`,
    'exec caddy run --config "$1"',
  ].join("\n"),
};
