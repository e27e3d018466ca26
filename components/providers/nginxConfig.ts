/**
 * nginx configuration for the router, rendered by pure functions so tests can feed every
 * output to a real `nginx -t`.
 */
import { type SlotColour, slotColours } from "../../infra/config";
import { shellCommand, shellQuote } from "../target";

export interface RouterSite {
  /** Where nginx reaches each slot, `host:port`. */
  upstreams: Record<SlotColour, string>;
  activeSlot: SlotColour;
  /** Percent of requests for the idle slot, 0-100. */
  canaryWeight: number;
  serverName: string;
  /** Ports nginx listens on inside its container (or on the test machine). */
  listen: { http: number; https: number };
  /** Certificate and key file paths inside the router; absent means plain HTTP only. */
  tls?: { certificatePath: string; keyPath: string };
}

export interface NginxPaths {
  /** Directory whose `*.conf` files hold the site. */
  siteDir: string;
  pidFile: string;
  errorLog: string;
  accessLog: string;
  /** Worker user; omitted when nginx runs unprivileged. */
  user?: string;
}

/** Paths inside the official nginx image. */
export const containerNginxPaths: NginxPaths = {
  siteDir: "/etc/nginx/switchyard",
  pidFile: "/var/run/nginx.pid",
  errorLog: "/var/log/nginx/error.log",
  accessLog: "/var/log/nginx/access.log",
  user: "nginx",
};

export const upstreamName = "switchyard_app";

const securityHeaders = [
  'add_header X-Content-Type-Options "nosniff" always;',
  'add_header X-Frame-Options "DENY" always;',
  'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
];

/** The main `nginx.conf`: process settings and an include of the site directory. It never changes with traffic. */
export function renderNginxMain(paths: NginxPaths): string {
  return [
    paths.user ? `user ${paths.user};` : undefined,
    "worker_processes auto;",
    `pid ${paths.pidFile};`,
    `error_log ${paths.errorLog} warn;`,
    "",
    "events {",
    "    worker_connections 4096;",
    "}",
    "",
    "http {",
    `    access_log ${paths.accessLog};`,
    "    server_tokens off;",
    "    keepalive_timeout 65s;",
    "    client_max_body_size 16m;",
    `    include ${paths.siteDir}/*.conf;`,
    "}",
    "",
  ]
    .filter((line) => line !== undefined)
    .join("\n");
}

/**
 * Upstream servers and their weights: the active slot only, or both split by the canary weight
 * (nginx weights must be at least 1, so 0 and 100 leave one server out).
 */
export function upstreamServers(
  site: Pick<RouterSite, "activeSlot" | "canaryWeight">,
): [SlotColour, number][] {
  const idle = idleSlot(site.activeSlot);
  if (site.canaryWeight <= 0) return [[site.activeSlot, 100]];
  if (site.canaryWeight >= 100) return [[idle, 100]];
  return [
    [site.activeSlot, 100 - site.canaryWeight],
    [idle, site.canaryWeight],
  ];
}

export function idleSlot(active: SlotColour): SlotColour {
  return slotColours.find((colour) => colour !== active) as SlotColour;
}

/** The site: upstream for the active slot (and canary), proxying, TLS and security headers. */
export function renderRouterSite(site: RouterSite): string {
  const servers = upstreamServers(site).map(
    ([colour, weight]) => `    server ${site.upstreams[colour]} weight=${weight} max_fails=0;  # ${colour}`,
  );
  const proxy = [
    "    location / {",
    `        proxy_pass http://${upstreamName};`,
    "        proxy_http_version 1.1;",
    '        proxy_set_header Connection "";',
    "        proxy_set_header Host $host;",
    "        proxy_set_header X-Real-IP $remote_addr;",
    "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "        proxy_set_header X-Forwarded-Proto $scheme;",
    "        proxy_set_header X-Request-Id $request_id;",
    "    }",
  ];
  const headers = securityHeaders.map((header) => `    ${header}`);
  const lines = [
    `upstream ${upstreamName} {`,
    ...servers,
    "    keepalive 32;",
    "}",
    "",
    "server {",
    `    listen ${site.listen.http} default_server;`,
    `    server_name ${site.serverName};`,
  ];
  if (site.tls) {
    lines.push(
      "    location / {",
      "        return 308 https://$host$request_uri;",
      "    }",
      "}",
      "",
      "server {",
      // `listen ... http2` rather than `http2 on`: the latter needs nginx 1.25.1, Debian 12 ships 1.22.
      `    listen ${site.listen.https} ssl http2 default_server;`,
      `    server_name ${site.serverName};`,
      `    ssl_certificate ${site.tls.certificatePath};`,
      `    ssl_certificate_key ${site.tls.keyPath};`,
      "    ssl_protocols TLSv1.2 TLSv1.3;",
      "    ssl_session_cache shared:switchyard_tls:10m;",
      '    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;',
    );
  }
  lines.push(...headers, ...proxy, "}", "");
  return lines.join("\n");
}

/**
 * A POSIX sh script that swaps a new site (read from stdin) in, keeps it only if `nginx -t`
 * accepts the whole configuration, then reloads; on refusal the previous site is restored and
 * nginx's own message is printed. `nginx` is the command prefix (`nginx`, or `nginx -p ... -c ...`).
 *
 * This is the seam the NginxUpstream provider replaces: a reload restarts the workers, and
 * idle keep-alive client connections of the old workers are closed.
 */
export function renderApplySiteScript(sitePath: string, nginx: readonly string[] = ["nginx"]): string {
  const run = shellCommand(nginx);
  return [
    `site=${shellQuote(sitePath)}`,
    'cat > "$site.next"',
    'if [ -f "$site" ]; then cp "$site" "$site.previous"; fi',
    'mv "$site.next" "$site"',
    `if ! ${run} -t 2>&1; then`,
    '  if [ -f "$site.previous" ]; then mv "$site.previous" "$site"; else rm -f "$site"; fi',
    '  echo "nginx refused the new site; the previous one stays live" >&2',
    "  exit 1",
    "fi",
    `${run} -s reload`,
    "",
  ].join("\n");
}
