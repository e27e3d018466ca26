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
import { createHash } from "node:crypto";
import type { SlotColour } from "../../infra/stackKeys";

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

/** The parts of the state directory, by role. */
export function routerLayout(stateDir: string) {
  return {
    /** Symlink to the route directory that decides where each request goes. */
    live: `${stateDir}/live`,
    /** Route directories, one per (active slot, canary weight) ever used: `routes/green-10`. */
    routes: `${stateDir}/routes`,
    /** Symlink to the live site generation. */
    current: `${stateDir}/current`,
    /** Site generations, `sites/<id>`. */
    sites: `${stateDir}/sites`,
    /** Symlink to the live certificate directory. */
    certificate: `${stateDir}/certificate`,
    /** Certificate directories, `certificates/<id>`, each a chain and its key. */
    certificates: `${stateDir}/certificates`,
    /** The maintenance page: while it exists, every public request gets it with a 503. */
    maintenancePage: `${stateDir}/maintenance.html`,
  };
}

/** Names of the files in a site generation. */
export const siteFile = "site.conf";
/** The main configuration that includes this generation instead of `current`: what `nginx -t` checks. */
export const testMainFile = "main.conf.test";

/**
 * Stands for the generation directory in rendered files. The provider names a generation by the
 * hash of its files (secret ones included, so a rotated key is a new generation) and puts the
 * real path in; rendering the path here would make the text depend on the secret key.
 */
export const generationDirToken = "@switchyard-generation-dir@";

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

export interface RouterSite {
  /**
   * Where nginx reaches each slot, `host:port`: the slot's fixed loopback port, which no
   * replacement of the slot moves and which needs no name resolution (see components/Router.ts).
   */
  upstreams: Record<SlotColour, string>;
  serverName: string;
  /**
   * Where nginx listens: the public ports on `address`, and `check` on 127.0.0.1 only. The check
   * listener serves the active slot of the pointer over plain HTTP for the post-switch
   * verification, whatever the canary weight, the fallback and TLS.
   */
  listen: { address: string; http: number; https: number; check: number };
  /** Whether to serve HTTPS (with the live certificate: `renderTlsFiles`) and redirect HTTP to it. */
  tls: boolean;
  /** The state directory as nginx sees it (`NginxMain.stateDir`). */
  stateDir: string;
  /** What keeps a user on one side of a canary; without it, each request is split on its own. */
  canary?: CanaryStickiness;
  /** The Retry-After of the maintenance page's 503. */
  retryAfterSeconds: number;
}

/**
 * A canary pinned per user, as kamal-proxy's rollout does: the bucket is a hash of a cookie or
 * header the app sets (an account id), so a user's page and its assets come from one version,
 * and raising the weight only adds users. Requests without the key are split one by one;
 * allowlisted keys always fall in bucket 0, the first to get the canary.
 */
export interface CanaryStickiness {
  key: { from: "cookie" | "header"; name: string };
  allowlist: string[];
}

/** `cookie:account_id` or `header:X-Account-Id`, as the config holds it. */
export function parseCanaryKey(text: string): CanaryStickiness["key"] {
  const [from, name] = text.split(":", 2);
  if ((from !== "cookie" && from !== "header") || !name) throw new Error(`not a canary key: ${text}`);
  return { from, name };
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

/** Percent buckets: the canary weight is a whole percent. */
export const bucketCount = 100;

/** Path on the check listener that answers with the generation directory nginx has loaded. */
export const generationProbePath = "/.switchyard/generation";

/** Where a public server's 503 goes: the maintenance page, or nginx's own 503 when there is none. */
export const maintenancePath = "/.switchyard/maintenance";

/** The maintenance page (a whole HTML document) with `message`, escaped. */
export function renderMaintenancePage(message: string): string {
  const escaped = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return [
    "<!doctype html>",
    '<html lang="en">',
    '<head><meta charset="utf-8"><title>Maintenance</title></head>',
    `<body><p>${escaped}</p></body>`,
    "</html>",
    "",
  ].join("\n");
}

/** Headers on every response, of every listener: the redirect to HTTPS and the check listener too. */
export const securityHeaders = [
  'add_header X-Content-Type-Options "nosniff" always;',
  'add_header X-Frame-Options "DENY" always;',
  'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
];

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
  const { live, certificate, maintenancePage } = routerLayout(site.stateDir);
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
  const buckets = Array.from({ length: bucketCount }, (_, bucket) =>
    bucket < bucketCount - 1 ? `    1% ${bucket};` : `    * ${bucket};`,
  );
  const split = site.canary ? stickySplit(site.canary, buckets) : perRequestSplit(buckets);
  /**
   * Picks the upstream by testing the pointer's files; `name` is the bucket (a variable) or
   * `active`. With `fallback`, the route's fallback marker is read first: a switch back that
   * renames `live` between the tests then still lands on an upstream with the previous slot as
   * backup, never on the dying slot alone (read last, it could pair the old route's slot with the
   * new route's lack of a fallback).
   */
  const route = (name: string, fallback: boolean) => [
    '    set $switchyard_fallback "";',
    ...(fallback
      ? [`    if (-f ${live}/${fallbackEntry}) { set $switchyard_fallback ${fallbackSuffix}; }`]
      : []),
    '    set $switchyard_upstream "";',
    `    if (-f ${live}/${routedEntry}) { set $switchyard_upstream ${upstreamNames.blue}; }`,
    `    if (-f ${live}/green.${name}) { set $switchyard_upstream ${upstreamNames.green}; }`,
  ];
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
      '    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;',
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

/** The files of a certificate directory. */
export const certificateFiles = { chain: "fullchain.pem", key: "privkey.pem" } as const;

/** A certificate directory's files (the stack keeps both the chain and the key secret). */
export function renderTlsFiles(tls: { certificate: string; key: string }): Record<string, string> {
  return { [certificateFiles.chain]: tls.certificate, [certificateFiles.key]: tls.key };
}

function filesHash(...bags: Record<string, string>[]): string {
  const hash = createHash("sha256");
  for (const bag of bags) {
    for (const name of Object.keys(bag).sort()) hash.update(`${name}\0${bag[name]}\0`);
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * The generation id: a hash of its files. (The empty second bag is where certificates were
 * hashed before they left the generation: it keeps the ids of sites without TLS, so an upgrade
 * reloads none of them.)
 */
export function generationId(files: Record<string, string>): string {
  return filesHash(files, {});
}

/** The certificate id, a hash of the chain and the key: it names a directory, and reveals no more than any hash of a long key. */
export function certificateId(tlsFiles: Record<string, string>): string {
  return filesHash(tlsFiles);
}

/** `text` with the generation directory in place of the token. */
export function forGeneration(text: string, generationDir: string): string {
  return text.split(generationDirToken).join(generationDir);
}

/** Where traffic goes: the pointer's value. */
export interface Traffic {
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot, 0-100. */
  canaryWeight: number;
  /**
   * Set for the post-switch window of a switch: a public request the slot it was routed to
   * cannot take (see `proxySettings`) goes to the other slot, the one that served before the
   * switch, while the watch decides whether to switch back. The check listener never falls
   * back, so the watch sees the new slot as it is.
   */
  fallback?: boolean;
}

export function idleSlot(active: SlotColour): SlotColour {
  return active === "blue" ? "green" : "blue";
}

/** The slot a bucket's requests go to: buckets below the canary weight go to the idle slot. */
export function bucketSlot(traffic: Traffic, bucket: number): SlotColour {
  return bucket < traffic.canaryWeight ? idleSlot(traffic.activeSlot) : traffic.activeSlot;
}

/** The route directory's name: `green-10`, or `green-10-fallback`. */
export function routeName(traffic: Traffic): string {
  return `${traffic.activeSlot}-${traffic.canaryWeight}${traffic.fallback ? "-fallback" : ""}`;
}

/** The slots that receive requests and their percent: the active one, and the idle one when there is a canary. */
export function upstreamServers(traffic: Traffic): [SlotColour, number][] {
  const idle = idleSlot(traffic.activeSlot);
  if (traffic.canaryWeight <= 0) return [[traffic.activeSlot, 100]];
  if (traffic.canaryWeight >= 100) return [[idle, 100]];
  return [
    [traffic.activeSlot, 100 - traffic.canaryWeight],
    [idle, traffic.canaryWeight],
  ];
}

/** The traffic a route directory (or the `live` link's target, `routes/green-10`) stands for. */
export function parseRoute(target: string): Traffic | undefined {
  const match = /(?:^|\/)(blue|green)-(\d{1,3})(-fallback)?$/.exec(target.trim());
  if (!match || Number(match[2]) > 100) return undefined;
  const traffic: Traffic = { activeSlot: match[1] as SlotColour, canaryWeight: Number(match[2]) };
  return match[3] ? { ...traffic, fallback: true } : traffic;
}

/** Where traffic goes, in words for messages. */
export function describeTraffic(traffic: Traffic | undefined): string {
  if (!traffic) return "no slot (the router answers 503)";
  if (traffic.canaryWeight === 0) return traffic.activeSlot;
  return `${traffic.activeSlot} with ${traffic.canaryWeight}% canary to ${idleSlot(traffic.activeSlot)}`;
}

/** In every route directory: a request that finds it is routed, to blue unless a green entry says otherwise. */
export const routedEntry = "routed";
/** In a route with a fallback. */
export const fallbackEntry = "fallback";

/** The empty files of a route directory: `routed`, and `green.<bucket>` / `green.active` where green gets them. */
export function routeEntries(traffic: Traffic): string[] {
  const green = Array.from({ length: bucketCount }, (_, bucket) => bucket)
    .filter((bucket) => bucketSlot(traffic, bucket) === "green")
    .map((bucket) => `green.${bucket}`);
  return [
    routedEntry,
    ...green,
    ...(traffic.activeSlot === "green" ? ["green.active"] : []),
    ...(traffic.fallback ? [fallbackEntry] : []),
  ];
}

/**
 * Commands the provider runs, each through the executor and the `exec` prefix (e.g.
 * `docker exec -i router`). The shell scripts take every value as a positional argument, so
 * nothing is interpolated into them.
 */
export const routerCommands = {
  /**
   * Prints `live=<target>`, `current=<target>` and `certificate=<target>` (empty targets when
   * absent), and `maintenance=on` while the maintenance page is there.
   */
  readPointers(stateDir: string): string[] {
    return [
      "sh",
      "-c",
      'cd "$1" 2>/dev/null || exit 0; printf "live=%s\\ncurrent=%s\\ncertificate=%s\\n" "$(readlink live)" "$(readlink current)" "$(readlink certificate)"; if [ -f maintenance.html ]; then echo maintenance=on; fi',
      "sh",
      stateDir,
    ];
  },

  /** Puts the page from stdin in place at once (written aside, then renamed), readable by the workers. */
  setMaintenance(stateDir: string): string[] {
    const page = routerLayout(stateDir).maintenancePage;
    return ["sh", "-c", 'umask 022 && cat > "$1.new" && mv -f "$1.new" "$1"', "sh", page];
  },

  /**
   * Puts the page from stdin up unless one is up already; prints `up` when it did, `already`
   * when one was (an operator's, which whoever called this must then leave up).
   */
  holdMaintenance(stateDir: string): string[] {
    const page = routerLayout(stateDir).maintenancePage;
    const script =
      'if [ -f "$1" ]; then echo already; else umask 022 && cat > "$1.new" && mv -f "$1.new" "$1" && echo up; fi';
    return ["sh", "-c", script, "sh", page];
  },

  clearMaintenance(stateDir: string): string[] {
    return ["rm", "-f", routerLayout(stateDir).maintenancePage];
  },

  /** Writes stdin to `path` (creating its directory); `umask` 077 for secrets. */
  writeFile(path: string, umask: "022" | "077"): string[] {
    return ["sh", "-c", 'umask "$2" && mkdir -p "${1%/*}" && cat > "$1"', "sh", path, umask];
  },

  /**
   * Writes stdin to `path`, 0600 in a 0700 directory, both owned by `owner` (nginx's worker user,
   * which reads it per handshake) when given; the directories above stay open to traverse.
   */
  writeWorkerSecret(path: string, owner: string | undefined): string[] {
    const script = [
      "set -e",
      'dir="${1%/*}"',
      '(umask 022 && mkdir -p "${dir%/*}")',
      "umask 077",
      'mkdir -p "$dir"',
      'cat > "$1.new"',
      'if [ -n "$2" ]; then chown "$2" "$dir" "$1.new"; fi',
      'mv -f "$1.new" "$1"',
    ].join("\n");
    return ["sh", "-c", script, "sh", path, owner ?? ""];
  },

  /**
   * Creates `routes/<name>` if missing (built aside, then renamed into place) and points `live`
   * at it by renaming a fresh symlink over it: rename(2) is atomic, `ln -sfn` is not.
   */
  pointTraffic(stateDir: string, traffic: Traffic): string[] {
    const script = [
      "set -e",
      'cd "$1"',
      'route="routes/$2"',
      "shift 2",
      'if [ ! -d "$route" ]; then',
      '  rm -rf "$route.new"',
      '  mkdir -p "$route.new"',
      '  (cd "$route.new" && touch "$@")',
      '  mv -T "$route.new" "$route"',
      "fi",
      'ln -sfn "$route" live.next',
      "mv -Tf live.next live",
    ].join("\n");
    return ["sh", "-c", script, "sh", stateDir, routeName(traffic), ...routeEntries(traffic)];
  },

  /** Points `link` atomically at `target`, or removes it when `target` is undefined. */
  pointLink(
    stateDir: string,
    link: "live" | "current" | "certificate",
    target: string | undefined,
  ): string[] {
    if (target === undefined) return ["rm", "-f", `${stateDir}/${link}`];
    return [
      "sh",
      "-c",
      'cd "$1" && ln -sfn "$3" "$2.next" && mv -Tf "$2.next" "$2"',
      "sh",
      stateDir,
      link,
      target,
    ];
  },

  /** Removes every site generation (`sites`) or certificate (`certificates`) directory but `keep`. */
  prune(stateDir: string, kind: "sites" | "certificates", keep: string | undefined): string[] {
    return [
      "sh",
      "-c",
      'cd "$1/$2" 2>/dev/null || exit 0; for d in *; do [ "$d" = "$3" ] || rm -rf "$d"; done',
      "sh",
      stateDir,
      kind,
      keep ?? "",
    ];
  },

  /**
   * The router container's command: nginx in the foreground, but first `nginx -t` of what the
   * state volume holds. A generation that does not load in this container (one written for
   * another network layout, or naming a host this network cannot resolve) would send nginx into
   * a restart loop, with no container to `docker exec` a repair into; instead the router starts
   * without a site, says why in its log, and the next `pulumi refresh` and `pulumi up` apply one.
   */
  startRouter(mainConfig: string, stateDir: string): string[] {
    const script = [
      'if ! nginx -t -q -c "$1"; then',
      '  echo "switchyard: the live site in $2 does not load here; starting without it until pulumi applies one" >&2',
      '  rm -f "$2/current"',
      "fi",
      'exec nginx -c "$1" -g "daemon off;"',
    ].join("\n");
    return ["sh", "-c", script, "sh", mainConfig, stateDir];
  },

  /** Removes everything switchyard keeps in the state directory. */
  removeState(stateDir: string): string[] {
    const { live, current, routes, sites, certificate, certificates, maintenancePage } =
      routerLayout(stateDir);
    return ["rm", "-rf", live, current, routes, sites, certificate, certificates, maintenancePage];
  },
};
