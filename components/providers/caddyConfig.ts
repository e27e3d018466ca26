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
  strictTransportSecurity,
} from "./routerState";
import type { SiteAcme } from "./acmeClient";

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
  /** `router.tls.acme.directoryCertificate`, for Caddy's ACME issuer to trust the directory with. */
  acmeDirectoryCertificate: "/etc/caddy/switchyard-acme-ca.pem",
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

/** The headers of every response (with HSTS over HTTPS); deferred, so they replace what a slot sent. */
function headersRoute(https = false): Route {
  const headers = https
    ? { ...responseHeaders, "Strict-Transport-Security": strictTransportSecurity }
    : responseHeaders;
  const set = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]]));
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
  // Before the slot and after it, as nginx does (`renderRouterSite`): a switch in or back between
  // the reads still lands on a route with a fallback.
  const readFallback = withFallback
    ? [
        {
          match: [fileExists(live, fallbackEntry)],
          handle: [setVariables({ [fallbackVariable]: fallbackMark })],
        },
      ]
    : [];
  return [
    { handle: [setVariables({ [slotVariable]: "", [fallbackVariable]: "" })] },
    ...readFallback,
    { match: [fileExists(live, routedEntry)], handle: [setVariables({ [slotVariable]: "blue" })] },
    { match: [fileExists(live, green)], handle: [setVariables({ [slotVariable]: "green" })] },
    ...readFallback,
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
  if ((site.tls && !site.acme) || site.canary)
    throw new Error(
      "the caddy router gets its certificates from ACME only, and splits requests one by one (see the file comment)",
    );
  const bucket = {
    match: [{ vars_regexp: { "{http.request.uuid}": { name: bucketVariable, pattern: "^[0-9a-f]{2}" } } }],
    handle: [setVariables({ [bucketVariable]: `{http.regexp.${bucketVariable}.0}` })],
  };
  const publicServer = {
    listen: [`${site.listen.address}:${site.acme ? site.listen.https : site.listen.http}`],
    ...(site.acme
      ? // Certificates by SNI from Caddy's cache, which its ACME client fills and renews in place.
        { tls_connection_policies: [{}], automatic_https: { disable_redirects: true } }
      : { automatic_https: { disable: true } }),
    routes: [
      headersRoute(site.acme !== undefined),
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
  const servers = { public: publicServer, check: checkServer };
  const config = {
    admin: adminConfig(adminAddress),
    ...(site.acme ? acmeConfig(site, site.acme, servers) : { apps: { http: { servers } } }),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * A site whose certificates Caddy gets itself: its TLS app manages the names with the ACME
 * issuer (HTTP-01 only, answered by every server on the HTTP port, so by the redirect), keeps
 * account, keys and certificates in the state directory (`acme`: they outlive the container, and
 * destroy removes them), checks for renewal every `checkIntervalSeconds` (renewing once a third
 * of the lifetime is left: 30 days of Let's Encrypt's 90), and writes what its ACME client does
 * to `caddyAcmeLog`, which the provider reads for the CA's reasons.
 */
function acmeConfig(site: RouterSite, acme: SiteAcme, servers: Record<string, unknown>) {
  const { acme: storage } = routerLayout(site.stateDir);
  const redirect = {
    listen: [`${site.listen.address}:${site.listen.http}`],
    automatic_https: { disable: true },
    routes: [
      headersRoute(),
      {
        handle: [
          {
            handler: "static_response",
            status_code: 308,
            headers: { Location: ["https://{http.request.host}{http.request.uri}"] },
          },
        ],
      },
    ],
  };
  const issuer = {
    module: "acme",
    ca: acme.directory,
    email: acme.email,
    ...(acme.directoryCertificateFile ? { trusted_roots_pem_files: [acme.directoryCertificateFile] } : {}),
    challenges: { "tls-alpn": { disabled: true } },
  };
  return {
    storage: { module: "file_system", root: storage },
    logging: {
      logs: {
        acme: {
          writer: { output: "file", filename: caddyAcmeLog(site.stateDir), roll_size_mb: 1, roll_keep: 1 },
          encoder: { format: "json" },
          include: ["tls"],
        },
      },
    },
    apps: {
      http: {
        http_port: site.listen.http,
        https_port: site.listen.https,
        servers: { ...servers, redirect },
      },
      tls: {
        certificates: { automate: acme.names },
        automation: {
          policies: [{ subjects: acme.names, issuers: [issuer] }],
          renew_interval: `${acme.checkIntervalSeconds}s`,
        },
      },
    },
  };
}

/** Where Caddy logs what its ACME client does (JSON lines): in the state directory's `acme`, root's alone. */
export function caddyAcmeLog(stateDir: string): string {
  return `${routerLayout(stateDir).acme}/tls.log`;
}

/**
 * The last failure Caddy's ACME log (`caddyAcmeLog`) reports for one of `names` at or after
 * `since` (Unix seconds) and not followed by a success for that name, with its time and the CA's
 * reason; undefined when there is none.
 */
export function caddyAcmeFailure(log: string, names: readonly string[], since = 0): string | undefined {
  const failures = new Map<string, string>();
  for (const line of log.split("\n")) {
    let entry: { ts?: number; msg?: string; identifier?: string; error?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const name = entry.identifier;
    if (name === undefined || !names.includes(name) || (entry.ts ?? 0) < since) continue;
    if (entry.msg === "certificate obtained successfully" || entry.msg === "certificate renewed successfully")
      failures.delete(name);
    else if (entry.msg === "could not get certificate from issuer") {
      failures.delete(name);
      const at = entry.ts === undefined ? "" : `${new Date(entry.ts * 1000).toISOString()} `;
      failures.set(name, `${at}${name}: ${entry.error ?? "no reason given"}`);
    }
  }
  return [...failures.values()].pop();
}

/** Commands run in the Caddy router's container about the certificates Caddy manages. */
export const caddyAcmeCommands = {
  /** Prints the names of `names` that Caddy has a certificate for in its storage, one a line. */
  obtained(stateDir: string, names: readonly string[]): string[] {
    const script =
      'cd "$1/certificates" 2>/dev/null || exit 0; shift; for n in "$@"; do ls */"$n/$n.crt" >/dev/null 2>&1 && echo "$n"; done; true';
    return ["sh", "-c", script, "sh", routerLayout(stateDir).acme, ...names];
  },

  /** Prints the newest certificate chain Caddy keeps for `name`, or nothing. */
  chain(stateDir: string, name: string): string[] {
    const script =
      'cd "$1/certificates" 2>/dev/null || exit 0; f="$(ls -t */"$2/$2.crt" 2>/dev/null | head -n 1)"; [ -z "$f" ] || cat "$f"';
    return ["sh", "-c", script, "sh", routerLayout(stateDir).acme, name];
  },

  /** Prints the end of Caddy's ACME log. */
  log(stateDir: string): string[] {
    return ["sh", "-c", 'tail -n 500 "$1" 2>/dev/null || true', "sh", caddyAcmeLog(stateDir)];
  },
};

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
