/**
 * The router's state directory, whatever serves it (nginx or Caddy: nginxConfig.ts,
 * caddyConfig.ts): where traffic goes, which site generation and certificate are live, the
 * maintenance page, and the commands that change them. Every change is one rename(2), and the
 * router reads the traffic pointer and the maintenance page per request, so a switch reloads
 * nothing (nginxConfig.ts says how nginx reads them, caddyConfig.ts how Caddy does).
 *
 * A route directory (`routes/green-10`) holds empty files: `routed` in every route (the request
 * goes to blue), `green.<bucket>` for the buckets that go to green, `green.active` when green is
 * active (what the check listener reads), and `fallback` for the post-switch window. A request
 * falls in a bucket drawn at random by the router; how many buckets there are, and their names,
 * is the router kind's (`BucketScheme`).
 */
import { createHash } from "node:crypto";
import type { SlotColour } from "../../infra/stackKeys";
import type { SiteAcme } from "./acmeClient";

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
    /** The ACME client's account, certificates and keys (acmeClient.ts), 0700. */
    acme: `${stateDir}/acme`,
    /** Where the ACME client puts HTTP-01 tokens, under `.well-known/acme-challenge/`, for the site to serve. */
    acmeWebroot: `${stateDir}/acme-webroot`,
  };
}

/**
 * Stands for the generation directory in rendered files. The provider names a generation by the
 * hash of its files (secret ones included, so a rotated key is a new generation) and puts the
 * real path in; rendering the path here would make the text depend on the secret key.
 */
export const generationDirToken = "@switchyard-generation-dir@";

/** Path on the check listener that answers with the generation directory the router has loaded. */
export const generationProbePath = "/.switchyard/generation";

/** The site a router serves, whatever serves it: nginxConfig.ts renders it for nginx, caddyConfig.ts for Caddy. */
export interface RouterSite {
  /**
   * Where the router reaches each slot, `host:port`: the slot's fixed loopback port, which no
   * replacement of the slot moves and which needs no name resolution (see components/Router.ts).
   */
  upstreams: Record<SlotColour, string>;
  serverName: string;
  /**
   * Where the router listens: the public ports on `address`, and `check` on 127.0.0.1 only. The check
   * listener serves the active slot of the pointer over plain HTTP for the post-switch
   * verification, whatever the canary weight, the fallback and TLS.
   */
  listen: { address: string; http: number; https: number; check: number };
  /** Whether to serve HTTPS (with the live certificate: `renderTlsFiles`) and redirect HTTP to it. */
  tls: boolean;
  /**
   * Set when the certificate comes from an ACME CA: nginx then serves its ACME client's HTTP-01
   * tokens on the HTTP port (acmeClient.ts); Caddy is the client itself (caddyConfig.ts).
   */
  acme?: SiteAcme;
  /** The state directory as the router sees it (`NginxMain.stateDir`, `containerCaddy.stateDir`). */
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

/** Headers on every response of every listener, the redirect to HTTPS and the check listener too. */
export const responseHeaders: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "strict-origin-when-cross-origin",
};

/** On every HTTPS response. */
export const strictTransportSecurity = "max-age=31536000; includeSubDomains";

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

/**
 * How a router kind splits requests: into `count` buckets, one drawn uniformly per request (or
 * per user, for a sticky canary), each named for the file its configuration tests.
 */
export interface BucketScheme {
  count: number;
  name(bucket: number): string;
}

/**
 * The slot a bucket's requests go to: the first buckets, the canary weight's share of them
 * (rounded), go to the idle slot. With 100 buckets that is buckets below the weight.
 */
export function bucketSlot(traffic: Traffic, bucket: number, count: number): SlotColour {
  const canaryBuckets = Math.round((traffic.canaryWeight * count) / 100);
  return bucket < canaryBuckets ? idleSlot(traffic.activeSlot) : traffic.activeSlot;
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
export function routeEntries(traffic: Traffic, buckets: BucketScheme): string[] {
  const green = Array.from({ length: buckets.count }, (_, bucket) => bucket)
    .filter((bucket) => bucketSlot(traffic, bucket, buckets.count) === "green")
    .map((bucket) => `green.${buckets.name(bucket)}`);
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
  pointTraffic(stateDir: string, traffic: Traffic, buckets: BucketScheme): string[] {
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
    return ["sh", "-c", script, "sh", stateDir, routeName(traffic), ...routeEntries(traffic, buckets)];
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

  /** Prints the live certificate's chain (public), or nothing without one. */
  readCertificateChain(stateDir: string): string[] {
    return [
      "sh",
      "-c",
      'cat "$1/fullchain.pem" 2>/dev/null || true',
      "sh",
      routerLayout(stateDir).certificate,
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
   * The router container's command: first `server.test` of what the state volume holds. A
   * generation that does not load in this container (one written for another network layout,
   * or naming a host this network cannot resolve) would send the server into a restart loop,
   * with no container to `docker exec` a repair into; instead the router starts without a site,
   * says why in its log, and the next `pulumi refresh` and `pulumi up` apply one. `$1` in the
   * server's lines is `config` (what it starts with), `$2` the state directory.
   */
  startRouter(config: string, stateDir: string, server: { test: string; run: string }): string[] {
    const script = [
      `if ! { ${server.test}; }; then`,
      '  echo "switchyard: the live site in $2 does not load here; starting without it until pulumi applies one" >&2',
      '  rm -f "$2/current"',
      "fi",
      server.run,
    ].join("\n");
    return ["sh", "-c", script, "sh", config, stateDir];
  },

  /** Removes everything switchyard keeps in the state directory. */
  removeState(stateDir: string): string[] {
    const layout = routerLayout(stateDir);
    return ["rm", "-rf", ...Object.values(layout)];
  },
};
