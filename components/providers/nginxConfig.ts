/**
 * nginx configuration for the router, rendered by pure functions so tests can feed every output
 * to a real `nginx -t`, and the commands the NginxUpstream provider runs to apply it.
 *
 * Two kinds of change reach the router, and only one of them reloads nginx:
 *
 * - Traffic (which slot is active, the canary weight) is state nginx reads on every request,
 *   never configuration. Each request falls in one of 100 buckets (`split_clients` on
 *   `$request_id`), and the site tests two empty files under the `live` pointer: `live/routed`
 *   (present in every route: the request goes to blue) then `live/green.<bucket>` (present for
 *   the buckets that go to green). `live` is a symlink to a route directory (`routes/green-10`:
 *   buckets 0-9 go to blue, 10-99 to green). A switch renames a new symlink over `live`, which
 *   is atomic; the two tests may straddle it, and because every route has `routed`, a request
 *   that does still gets the old slot or the new one, never neither. Workers keep their
 *   keep-alive connections, nothing restarts. With no pointer the router answers 503 rather
 *   than guess. For the post-switch window the route also has `fallback`: public requests then
 *   go to the slot's `_fallback` upstream, where the slot that served before the switch is a
 *   backup server, so a new slot that dies inside the window costs no request while the watch
 *   switches back. Leaving the window is one more rename, to the route without it. The two file
 *   tests cost less router CPU per request than an njs `js_set` reading a pointer file (njs
 *   clones its VM per request and keeps nothing between requests to cache the pointer in; the
 *   figures are in the README, from `npm run bench -- switch`), and need no module: any nginx
 *   build serves them.
 *   The router container's main configuration (`containerNginxMain`) assumes the official
 *   image's layout — a `nginx` user, `/var/run/nginx.pid`, logs under `/var/log/nginx` — which
 *   Debian's own package does not have (its user is www-data); `engine/images/nginx` builds
 *   that layout from Debian's nginx-light, and the real-engine tier runs this configuration in
 *   it. Tests on the host render their own `NginxMain` without a user.
 * - Configuration (upstream addresses, server name, whether to serve TLS, headers) lives in a generation
 *   directory `sites/<id>` named by a hash of its content. A new one is written beside the live
 *   one, tested with `nginx -t` against a main configuration that includes it (the whole
 *   configuration nginx would load, main and site), and only then made live by renaming the
 *   `current` symlink over, followed by one reload. An unchanged configuration keeps its id,
 *   so nothing is reloaded.
 *
 * A certificate is neither. nginx reads it on every TLS handshake, because its path holds a
 * variable (nginx >= 1.15.9), from `certificates/<id>` through the `certificate` symlink; a new
 * one is written beside the live one, checked (the key matches the chain), and made live by one
 * rename: new handshakes get it, established connections keep theirs, nothing reloads. A reload
 * per certificate closed idle keep-alive connections, the loss the traffic pointer avoids. The
 * price is reading and parsing the chain and key per handshake (not per request): measured by
 * `npm run bench -- switch`, in the README. Workers read the files, so they belong to the worker
 * user, 0600.
 */
import type { SlotColour } from "../../infra/stackKeys";
import { acmeChallengePath } from "./acmeClient";
import {
  type BucketScheme,
  type CanaryStickiness,
  certificateFiles,
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

/** Process-level settings of the main `nginx.conf`; it never changes with traffic or sites. */
export interface NginxMain {
  /** Directory switchyard owns (the router's state volume): site generations and the traffic pointer. */
  stateDir: string;
  pidFile: string;
  errorLog: string;
  accessLog: string;
  /** Worker user; omitted when nginx runs unprivileged. */
  user?: string;
  /**
   * Requests one client connection may carry before nginx closes it (announcing
   * `Connection: close`). nginx's default is 1000.
   */
  keepaliveRequests: number;
}

/** Where things live in the official nginx image; `stateDir` is where the router's state volume is mounted. */
export const containerNginxMain: NginxMain = {
  stateDir: "/etc/nginx/switchyard",
  pidFile: "/var/run/nginx.pid",
  errorLog: "/var/log/nginx/error.log",
  accessLog: "/var/log/nginx/access.log",
  user: "nginx",
  keepaliveRequests: 1000,
};

/** The main configuration nginx runs with, in the router container. */
export const containerMainConfig = "/etc/nginx/nginx.conf";

/** Names of the files in a site generation. */
export const siteFile = "site.conf";
/** The main configuration that includes this generation instead of `current`: what `nginx -t` checks. */
export const testMainFile = "main.conf.test";

/**
 * The main `nginx.conf`: process settings and an include of the site generation. The include is
 * a pattern so nginx starts, serving nothing, before the first site exists.
 */
export function renderNginxMain(main: NginxMain, siteDir = routerLayout(main.stateDir).current): string {
  return [
    ...(main.user ? [`user ${main.user};`] : []),
    "worker_processes auto;",
    `pid ${main.pidFile};`,
    `error_log ${main.errorLog} warn;`,
    "",
    "events {",
    "    worker_connections 4096;",
    "}",
    "",
    "http {",
    `    access_log ${main.accessLog};`,
    "    server_tokens off;",
    "    keepalive_timeout 65s;",
    `    keepalive_requests ${main.keepaliveRequests};`,
    "    client_max_body_size 16m;",
    `    include ${siteDir}/*.conf;`,
    "}",
    "",
  ].join("\n");
}

/** The nginx variable holding a request's canary key. */
export function canaryKeyVariable(key: CanaryStickiness["key"]): string {
  return key.from === "cookie"
    ? `$cookie_${key.name}`
    : `$http_${key.name.toLowerCase().replaceAll("-", "_")}`;
}

export const upstreamNames: Record<SlotColour, string> = {
  blue: "switchyard_blue",
  green: "switchyard_green",
};

/**
 * Appended to a slot's upstream name while the pointer has a fallback: the same slot, with the
 * other one as a backup server.
 */
export const fallbackSuffix = "_fallback";

/** Percent buckets, named by number, which `split_clients` draws from: the canary weight is a whole percent. */
export const nginxBuckets: BucketScheme = { count: 100, name: String };

/** Where a public server's 503 goes: the maintenance page, or nginx's own 503 when there is none. */
export const maintenancePath = "/.switchyard/maintenance";

/** Headers on every response, of every listener: the redirect to HTTPS and the check listener too. */
export const securityHeaders = Object.entries(responseHeaders).map(
  ([name, value]) => `add_header ${name} "${value}" always;`,
);

/**
 * How requests are passed to a slot: keep-alive upstream connections, who asked, and when a
 * request may go on to a fallback slot. Only on `error` (no connection, or the connection broke
 * before a response header): nginx then retries a non-idempotent request only if it was never
 * sent, so a POST is never run twice. A slow answer (`timeout`) is not retried: it is not a dead
 * slot, and retrying it would double the load on a struggling app.
 */
export const proxySettings = [
  "proxy_next_upstream error;",
  "proxy_next_upstream_tries 2;",
  "proxy_http_version 1.1;",
  'proxy_set_header Connection "";',
  "proxy_set_header Host $host;",
  "proxy_set_header X-Real-IP $remote_addr;",
  "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
  "proxy_set_header X-Forwarded-Proto $scheme;",
  "proxy_set_header X-Request-Id $request_id;",
];

/** The site: both upstreams, the bucket split, and the public and check servers. */
export function renderRouterSite(site: RouterSite): string {
  const { live, certificate, maintenancePage, acmeWebroot } = routerLayout(site.stateDir);
  // max_fails=0: a slot is never marked down by nginx; the pointer alone decides.
  const upstreams = (["blue", "green"] as const).flatMap((colour) => [
    `upstream ${upstreamNames[colour]} {`,
    `    server ${site.upstreams[colour]} max_fails=0;`,
    "    keepalive 32;",
    "}",
    "",
    `upstream ${upstreamNames[colour]}${fallbackSuffix} {`,
    `    server ${site.upstreams[colour]} max_fails=0;`,
    `    server ${site.upstreams[idleSlot(colour)]} max_fails=0 backup;`,
    "    keepalive 32;",
    "}",
    "",
  ]);
  const buckets = Array.from({ length: nginxBuckets.count }, (_, bucket) =>
    bucket < nginxBuckets.count - 1 ? `    1% ${bucket};` : `    * ${bucket};`,
  );
  const split = site.canary ? stickySplit(site.canary, buckets) : perRequestSplit(buckets);
  /**
   * Picks the upstream by testing the pointer's files; `name` is the bucket (a variable) or
   * `active`. With `fallback`, the route's fallback marker is read before the slot and again
   * after it, so a rename of `live` between the tests never sends a request to a new slot alone:
   * a switch in (to the new slot, backed by the previous one) is seen by the last read, a switch
   * back (to the previous slot alone) by the first. Read once, either could pair one route's slot
   * with the other route's lack of a fallback.
   */
  const route = (name: string, fallback: boolean) => {
    const readFallback = fallback
      ? [`    if (-f ${live}/${fallbackEntry}) { set $switchyard_fallback ${fallbackSuffix}; }`]
      : [];
    return [
      '    set $switchyard_fallback "";',
      ...readFallback,
      '    set $switchyard_upstream "";',
      `    if (-f ${live}/${routedEntry}) { set $switchyard_upstream ${upstreamNames.blue}; }`,
      `    if (-f ${live}/green.${name}) { set $switchyard_upstream ${upstreamNames.green}; }`,
      ...readFallback,
    ];
  };
  const proxy = (checks: string[]) => [
    "    location / {",
    ...checks,
    // No pointer (nothing switched yet, or it was removed): refuse rather than guess a slot.
    '        if ($switchyard_upstream = "") { return 503; }',
    "        proxy_pass http://$switchyard_upstream$switchyard_fallback;",
    ...proxySettings.map((setting) => `        ${setting}`),
    "    }",
  ];
  const publicRoute = route("${switchyard_bucket}", true);
  const headers = securityHeaders.map((header) => `    ${header}`);
  /**
   * A public server in maintenance: the page's presence is read per request, so turning it on or
   * off reloads nothing. Its 503 (and the one without a pointer) goes to the page, which answers
   * with nginx's own 503 when there is no page. Only `location /` tests it: the page's location
   * does not, so the error page never loops.
   */
  const publicProxy = [
    `    error_page 503 ${maintenancePath};`,
    `    location = ${maintenancePath} {`,
    "        internal;",
    `        if (!-f ${maintenancePage}) { return 503; }`,
    "        default_type text/html;",
    `        alias ${maintenancePage};`,
    `        add_header Retry-After ${site.retryAfterSeconds} always;`,
    '        add_header Cache-Control "no-store" always;',
    ...securityHeaders.map((header) => `        ${header}`),
    "    }",
    ...proxy([`        if (-f ${maintenancePage}) { return 503; }`]),
  ];
  const lines = [
    ...upstreams,
    ...split,
    "server {",
    `    listen ${site.listen.address}:${site.listen.http} default_server;`,
    `    server_name ${site.serverName};`,
  ];
  if (site.tls) {
    // A variable in the path makes nginx read the certificate per handshake (see the file comment).
    lines.unshift(`map $ssl_server_name $switchyard_certificate {`, `    default ${certificate};`, "}", "");
    lines.push(
      ...headers,
      ...(site.acme
        ? [
            // The ACME client's tokens, before the redirect: the CA asks over plain HTTP.
            `    location ^~ ${acmeChallengePath} {`,
            `        root ${acmeWebroot};`,
            "        default_type text/plain;",
            "    }",
          ]
        : []),
      "    location / {",
      "        return 308 https://$host$request_uri;",
      "    }",
      "}",
      "",
      "server {",
      // `listen ... http2` rather than `http2 on`: the latter needs nginx 1.25.1, Debian 12 ships 1.22.
      `    listen ${site.listen.address}:${site.listen.https} ssl http2 default_server;`,
      `    server_name ${site.serverName};`,
      `    ssl_certificate $switchyard_certificate/${certificateFiles.chain};`,
      `    ssl_certificate_key $switchyard_certificate/${certificateFiles.key};`,
      "    ssl_protocols TLSv1.2 TLSv1.3;",
      "    ssl_session_cache shared:switchyard_tls:10m;",
      `    add_header Strict-Transport-Security "${strictTransportSecurity}" always;`,
    );
  }
  lines.push(
    ...publicRoute,
    ...headers,
    ...publicProxy,
    "}",
    "",
    "server {",
    `    listen 127.0.0.1:${site.listen.check};`,
    "    server_name _;",
    ...route("active", false),
    ...headers,
    `    location = ${generationProbePath} {`,
    "        default_type text/plain;",
    `        return 200 "${generationDirToken}";`,
    "    }",
    ...proxy([]),
    "}",
    "",
  );
  return lines.join("\n");
}

/** Each request on its own: the canary weight is a share of requests. */
function perRequestSplit(buckets: string[]): string[] {
  return ['split_clients "${request_id}" $switchyard_bucket {', ...buckets, "}", ""];
}

/** A user's key picks the bucket; no key, the request id; an allowlisted key, bucket 0. */
function stickySplit(canary: CanaryStickiness, buckets: string[]): string[] {
  const key = canaryKeyVariable(canary.key);
  return [
    `map ${key} $switchyard_canary_key {`,
    '    "" $request_id;',
    `    default ${key};`,
    "}",
    "",
    'split_clients "${switchyard_canary_key}" $switchyard_hashed_bucket {',
    ...buckets,
    "}",
    "",
    `map ${key} $switchyard_bucket {`,
    ...canary.allowlist.map((value) => `    "${value}" 0;`),
    "    default $switchyard_hashed_bucket;",
    "}",
    "",
  ];
}

/**
 * The plain files of a site generation (relative path -> content, with `generationDirToken` for
 * the generation directory): the site and the main configuration `nginx -t` checks it with.
 */
export function renderRouterFiles(main: NginxMain, site: RouterSite): Record<string, string> {
  return { [siteFile]: renderRouterSite(site), [testMainFile]: renderNginxMain(main, generationDirToken) };
}

/** How the nginx router container starts (`routerCommands.startRouter`): nginx in the foreground, its main configuration as `$1`. */
export const nginxStart = {
  test: 'nginx -t -q -c "$1"',
  run: 'exec nginx -c "$1" -g "daemon off;"',
};
