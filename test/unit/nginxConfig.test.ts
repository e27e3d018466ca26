/**
 * The router's nginx configuration, read the way nginx reads it but without nginx: the rendered
 * text is parsed into directives and blocks, and requests are followed through them (the bucket
 * split, the traffic pointer's file tests, locations, `return` and `proxy_pass`). The same output
 * runs on a real nginx in test/integration/router.test.ts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type SlotColour, slotColours } from "../../infra/config";
import {
  canaryKeyVariable,
  fallbackSuffix,
  maintenancePath,
  nginxBuckets,
  type NginxMain,
  proxySettings,
  renderNginxMain,
  renderRouterFiles,
  renderRouterSite,
  securityHeaders,
  siteFile,
  testMainFile,
  upstreamNames,
} from "../../components/providers/nginxConfig";
import {
  bucketSlot,
  certificateId,
  forGeneration,
  generationDirToken,
  generationId,
  generationProbePath,
  idleSlot,
  parseCanaryKey,
  parseRoute,
  renderMaintenancePage,
  renderTlsFiles,
  routeEntries,
  routeName,
  routerLayout,
  type RouterSite,
  type Traffic,
  upstreamServers,
} from "../../components/providers/routerState";

/** One directive, `name args...;` or `name args... { block }`; quoted arguments keep their quotes. */
interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/** nginx's configuration syntax, strictly: an unterminated directive or an unbalanced brace throws. */
function parseConfig(text: string): Directive[] {
  // `${name}` is a variable, not a block.
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{};]|(?:\$\{\w+\}|[^\s{};"])+/g) ?? [];
  let at = 0;
  const parseBlock = (closing: string | undefined): Directive[] => {
    const directives: Directive[] = [];
    for (;;) {
      const name = tokens[at++];
      if (name === closing) return directives;
      if (name === undefined || ["{", "}", ";"].includes(name)) throw new Error(`unexpected ${name}`);
      const args: string[] = [];
      let token = tokens[at++];
      for (; token !== undefined && !["{", "}", ";"].includes(token); token = tokens[at++]) args.push(token);
      if (token === ";") directives.push({ name, args });
      else if (token === "{") directives.push({ name, args, block: parseBlock("}") });
      else throw new Error(`${name}: unterminated directive`);
    }
  };
  return parseBlock(undefined);
}

const named = (directives: Directive[], name: string) => directives.filter((d) => d.name === name);

function only(directives: Directive[], name: string): Directive {
  const found = named(directives, name);
  assert.equal(found.length, 1, `one ${name}, found ${found.length}`);
  return found[0];
}

const argsOf = (directives: Directive[], name: string) => only(directives, name).args;

function blockOf(directive: Directive): Directive[] {
  assert.ok(directive.block, `${directive.name} has a block`);
  return directive.block;
}

/** One directive, brace or one-line `if` a line, so `nginx -t` names the line at fault; a newline at the end. */
function assertOneDirectiveALine(text: string): void {
  assert.ok(text.endsWith("}\n"), "ends with a newline");
  for (const line of text.split("\n")) {
    const ends = line.replace(/"[^"]*"/g, '""').match(/[;{}]/g) ?? [];
    const oneLineIf = /^\s*if \(.*\) \{ [^;]*; \}$/.test(line);
    assert.ok(line === "" || ends.length === 1 || oneLineIf, JSON.stringify(line));
  }
}

const unquote = (arg: string) => (arg.startsWith('"') ? arg.slice(1, -1) : arg);

const headersOf = (directives: Directive[]) =>
  Object.fromEntries(named(directives, "add_header").map((h) => [h.args[0], unquote(h.args[1])]));

/** The server block listening on `port`, whatever the address; there must be exactly one. */
function serverOn(site: Directive[], port: number): Directive[] {
  const servers = named(site, "server").filter((server) =>
    named(blockOf(server), "listen").some((listen) => listen.args[0].endsWith(`:${port}`)),
  );
  assert.equal(servers.length, 1, `one server listens on ${port}`);
  return blockOf(servers[0]);
}

interface Request {
  port: number;
  path?: string;
  host?: string;
  /** Where `split_clients` puts the request's id, a percentile in [0, 100). */
  percentile?: number;
  /** The files that exist: the traffic pointer's entries, as full paths. */
  files: ReadonlySet<string>;
  /** A rename of the pointer while the request reads it: from its `atTest`-th file test on (0 first), `files` exist. */
  renamed?: { atTest: number; files: ReadonlySet<string> };
}

interface Response {
  status: number;
  /** The upstream server (`host:port`) a proxied request is passed to. */
  proxiedTo?: string;
  /** The backup server of that upstream: where the request goes when `proxiedTo` refuses it. */
  fallbackTo?: string;
  location?: string;
  /** The file a static location answers with. */
  servedFile?: string;
  body?: string;
  contentType?: string;
  headers: Record<string, string>;
}

/** Statuses `add_header` applies to without `always`. */
const headerStatuses = [200, 201, 204, 206, 301, 302, 303, 304, 307, 308];

/**
 * What nginx does with a request: the server by port, its rewrite directives (`set`, `if`,
 * `return`) in order, then the location (exact match first, else the longest prefix), its own
 * rewrite directives, then `proxy_pass` to an upstream. Reading a variable nothing set throws,
 * as nginx warns of it.
 */
function respond(site: Directive[], request: Request): Response {
  const path = request.path ?? "/";
  const variables = new Map([
    ["host", request.host ?? "shop.example.com"],
    ["request_uri", path],
  ]);
  const split = only(site, "split_clients");
  let upTo = 0;
  for (const entry of blockOf(split)) {
    upTo = entry.name === "*" ? Infinity : upTo + Number(entry.name.replace(/%$/, ""));
    if ((request.percentile ?? 50) < upTo) {
      variables.set(split.args[1].slice(1), unquote(entry.args[0]));
      break;
    }
  }
  const expand = (arg: string) =>
    unquote(arg).replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced?: string, bare?: string) => {
      const value = variables.get(braced ?? bare ?? "");
      if (value === undefined) throw new Error(`using uninitialized variable ${braced ?? bare}`);
      return value;
    });
  let fileTests = 0;
  const holds = (args: string[]): boolean => {
    const words = args
      .map((arg, i) => (i === 0 ? arg.replace(/^\(/, "") : arg))
      .map((arg, i) => (i === args.length - 1 ? arg.replace(/\)$/, "") : arg))
      .filter((word) => word !== "");
    if (words.length === 2 && words[0] === "-f") {
      const { renamed } = request;
      const files = renamed && fileTests++ >= renamed.atTest ? renamed.files : request.files;
      return files.has(expand(words[1]));
    }
    if (words.length === 3 && words[1] === "=") return expand(words[0]) === expand(words[2]);
    throw new Error(`unsupported condition ${args.join(" ")}`);
  };
  const rewrite = (directives: Directive[]): Omit<Response, "headers"> | undefined => {
    for (const directive of directives) {
      if (directive.name === "set") {
        assert.match(directive.args[0], /^\$\w+$/);
        variables.set(directive.args[0].slice(1), expand(directive.args[1]));
      } else if (directive.name === "if" && holds(directive.args)) {
        const returned = rewrite(blockOf(directive));
        if (returned) return returned;
      } else if (directive.name === "return") {
        const [code, text] = directive.args;
        const status = Number(code);
        if (text === undefined) return { status };
        return status >= 300 && status < 400
          ? { status, location: expand(text) }
          : { status, body: expand(text) };
      }
    }
    return undefined;
  };
  const server = serverOn(site, request.port);
  const withHeaders = (level: Directive[], response: Omit<Response, "headers">): Response => {
    const headers = named(level, "add_header").filter(
      (h) => h.args[2] === "always" || headerStatuses.includes(response.status),
    );
    return { ...response, headers: headersOf(headers) };
  };
  const early = rewrite(server);
  if (early) return withHeaders(server, early);

  const locations = named(server, "location");
  const exact = locations.find((l) => l.args[0] === "=" && l.args[1] === path);
  // `^~` only stops regular expressions from being tried, and the site has none.
  const prefixOf = (l: Directive) => (l.args.length === 2 && l.args[0] === "^~" ? l.args[1] : l.args[0]);
  const prefixes = locations
    .filter((l) => (l.args.length === 1 || l.args[0] === "^~") && path.startsWith(prefixOf(l)))
    .sort((a, b) => prefixOf(b).length - prefixOf(a).length);
  const chosen = exact ?? prefixes[0];
  if (!chosen) return withHeaders(server, { status: 404 });
  const location = blockOf(chosen);
  const root = named(location, "root")[0]?.args[0];
  if (root !== undefined) {
    const file = `${root}${path}`;
    const type = named(location, "default_type")[0]?.args[0];
    return withHeaders(
      server,
      request.files.has(file) ? { status: 200, servedFile: file, contentType: type } : { status: 404 },
    );
  }
  // add_header directives are inherited from the server only when the location has none.
  const headerLevel = named(location, "add_header").length > 0 ? location : server;
  const returned = rewrite(location);
  if (returned) {
    const type = named(location, "default_type")[0]?.args[0];
    return withHeaders(headerLevel, type ? { ...returned, contentType: type } : returned);
  }
  const upstreamName = expand(argsOf(location, "proxy_pass")[0]).replace(/^http:\/\//, "");
  const upstream = named(site, "upstream").find((u) => u.args[0] === upstreamName);
  if (!upstream) return withHeaders(headerLevel, { status: 502 });
  const servers = named(blockOf(upstream), "server");
  const primary = servers.filter((server) => !server.args.includes("backup"));
  const backup = servers.filter((server) => server.args.includes("backup"));
  assert.equal(primary.length, 1, `one primary server in ${upstreamName}`);
  const proxied = { status: 200, proxiedTo: primary[0].args[0] };
  return withHeaders(
    headerLevel,
    backup.length > 0 ? { ...proxied, fallbackTo: backup[0].args[0] } : proxied,
  );
}

const stateDir = "/srv/switchyard";
const generationDir = `${stateDir}/sites/3f9c2e1a4b5d6e7f`;

const site: RouterSite = {
  upstreams: { blue: "10.0.0.5:3000", green: "10.0.0.6:3001" },
  serverName: "api.example.com www.example.com",
  listen: { address: "203.0.113.7", http: 8080, https: 8443, check: 9090 },
  tls: false,
  stateDir,
  retryAfterSeconds: 45,
};
const tlsSite: RouterSite = { ...site, tls: true };
const siteAcme = {
  email: "ops@example.com",
  directory: "https://acme-v02.api.letsencrypt.org/directory",
  names: ["api.example.com", "www.example.com"],
  checkIntervalSeconds: 43_200,
};
/** The port that serves the public: HTTPS when there is TLS. */
const publicPort = (s: RouterSite) => (s.tls ? s.listen.https : s.listen.http);

const main: NginxMain = {
  stateDir,
  pidFile: "/run/nginx.pid",
  errorLog: "/var/log/nginx/error.log",
  accessLog: "/var/log/nginx/access.log",
  keepaliveRequests: 500,
};

/**
 * The files nginx finds for a traffic pointer, as `routerCommands.pointTraffic` makes them: the
 * route's entries in `routes/<name>`, reached through the `live` symlink in the state directory.
 */
const pointerFiles = (traffic: Traffic | undefined) =>
  new Set(traffic ? routeEntries(traffic, nginxBuckets).map((entry) => `${stateDir}/live/${entry}`) : []);

/** Every traffic there is: 2 active slots x canary weights 0-100. Few enough to check them all. */
const everyTraffic: Traffic[] = slotColours.flatMap((activeSlot) =>
  Array.from({ length: 101 }, (_, canaryWeight) => ({ activeSlot, canaryWeight })),
);
const trafficArbitrary = fc.record(
  { activeSlot: fc.constantFrom(...slotColours), canaryWeight: fc.integer({ min: 0, max: 100 }) },
  { noNullPrototype: true },
);
/** Every traffic, with and without the post-switch fallback. */
const anyTraffic: fc.Arbitrary<Traffic> = fc.oneof(
  trafficArbitrary,
  trafficArbitrary.map((traffic) => ({ ...traffic, fallback: true })),
);
/** A file's path in a generation directory, such as `site.conf` or `tls/privkey.pem`. */
const fileName = fc.stringMatching(/^([a-z]{1,6}\/)?[a-z._-]{1,8}\.(conf|pem|test)$/);
const buckets = Array.from({ length: nginxBuckets.count }, (_, bucket) => bucket);

describe("nginx configuration", () => {
  describe("main configuration", () => {
    it("runs workers as the configured user, and has no user line without one", () => {
      assert.deepEqual(argsOf(parseConfig(renderNginxMain({ ...main, user: "nginx" })), "user"), ["nginx"]);
      assert.deepEqual(named(parseConfig(renderNginxMain(main)), "user"), []);
    });

    it("takes its process settings from NginxMain and includes the live site generation", () => {
      const config = parseConfig(renderNginxMain(main));
      assert.deepEqual(
        config.map((d) => d.name),
        ["worker_processes", "pid", "error_log", "events", "http"],
      );
      assert.deepEqual(argsOf(config, "worker_processes"), ["auto"]);
      assert.deepEqual(argsOf(config, "pid"), [main.pidFile]);
      assert.deepEqual(argsOf(config, "error_log"), [main.errorLog, "warn"]);
      assert.deepEqual(argsOf(blockOf(only(config, "events")), "worker_connections"), ["4096"]);
      const http = blockOf(only(config, "http"));
      assert.deepEqual(Object.fromEntries(http.map((d) => [d.name, d.args])), {
        access_log: [main.accessLog],
        server_tokens: ["off"],
        keepalive_timeout: ["65s"],
        keepalive_requests: ["500"],
        client_max_body_size: ["16m"],
        include: [`${stateDir}/current/*.conf`],
      });
    });

    it("writes one directive a line", () => {
      assertOneDirectiveALine(renderNginxMain({ ...main, user: "nginx" }));
    });

    it("checks a generation with the same main configuration, including that generation's site", () => {
      const files = renderRouterFiles(main, site);
      assert.deepEqual(Object.keys(files).sort(), [siteFile, testMainFile].sort());
      assert.equal(files[siteFile], renderRouterSite(site));
      assert.match(siteFile, /\.conf$/, "the include pattern picks the site up");
      const checked = parseConfig(forGeneration(files[testMainFile], generationDir));
      assert.deepEqual(argsOf(blockOf(only(checked, "http")), "include"), [`${generationDir}/*.conf`]);
      // Otherwise the very configuration nginx runs with.
      const live = parseConfig(renderNginxMain(main));
      const withoutInclude = (config: Directive[]) =>
        JSON.stringify(config, (key, value) => (key === "args" && value[0]?.endsWith("*.conf") ? [] : value));
      assert.equal(withoutInclude(checked), withoutInclude(live));
    });
  });

  describe("router site", () => {
    it("declares both upstreams, the bucket split and its servers, and nothing else", () => {
      for (const s of [site, tlsSite]) {
        const config = parseConfig(renderRouterSite(s));
        const servers = s.tls ? ["server", "server", "server"] : ["server", "server"];
        assert.deepEqual(
          config.map((d) => d.name),
          [
            ...(s.tls ? ["map"] : []),
            "upstream",
            "upstream",
            "upstream",
            "upstream",
            "split_clients",
            ...servers,
          ],
        );
      }
    });

    it("writes one directive a line", () => {
      for (const s of [site, tlsSite]) assertOneDirectiveALine(renderRouterSite(s));
    });

    it("defines each slot's upstream, and its fallback with the other slot as backup, never marked down, kept alive", () => {
      for (const s of [site, { ...site, upstreams: { blue: "127.0.0.1:18081", green: "127.0.0.1:18082" } }]) {
        const config = parseConfig(renderRouterSite(s));
        const upstream = (name: string) => {
          const found = named(config, "upstream").find((u) => u.args[0] === name);
          assert.ok(found, `upstream ${name}`);
          return blockOf(found).map((d) => [d.name, ...d.args]);
        };
        for (const colour of slotColours) {
          assert.deepEqual(upstream(upstreamNames[colour]), [
            ["server", s.upstreams[colour], "max_fails=0"],
            ["keepalive", "32"],
          ]);
          assert.deepEqual(upstream(`${upstreamNames[colour]}${fallbackSuffix}`), [
            ["server", s.upstreams[colour], "max_fails=0"],
            ["server", s.upstreams[idleSlot(colour)], "max_fails=0", "backup"],
            ["keepalive", "32"],
          ]);
        }
      }
    });

    it("with a canary key, hashes the key (the request id without one) and puts allowlisted keys in bucket 0", () => {
      const canary = {
        key: { from: "cookie" as const, name: "account_id" },
        allowlist: ["vip-1", "a@b.example"],
      };
      const config = parseConfig(renderRouterSite({ ...site, canary }));
      assert.deepEqual(
        config.map((d) => d.name).filter((name) => name !== "upstream" && name !== "server"),
        ["map", "split_clients", "map"],
      );
      const [key, bucket] = named(config, "map");
      assert.deepEqual(key.args, ["$cookie_account_id", "$switchyard_canary_key"]);
      assert.deepEqual(
        blockOf(key).map((d) => [d.name, ...d.args]),
        [
          ['""', "$request_id"],
          ["default", "$cookie_account_id"],
        ],
      );
      const split = only(config, "split_clients");
      assert.deepEqual(split.args, ['"${switchyard_canary_key}"', "$switchyard_hashed_bucket"]);
      assert.equal(blockOf(split).length, nginxBuckets.count);
      assert.deepEqual(bucket.args, ["$cookie_account_id", "$switchyard_bucket"]);
      assert.deepEqual(
        blockOf(bucket).map((d) => [d.name, ...d.args]),
        [
          ['"vip-1"', "0"],
          ['"a@b.example"', "0"],
          ["default", "$switchyard_hashed_bucket"],
        ],
      );
    });

    it("names the key's nginx variable: a cookie as it is, a header lower-cased with underscores", () => {
      assert.equal(canaryKeyVariable({ from: "cookie", name: "account_id" }), "$cookie_account_id");
      assert.equal(canaryKeyVariable({ from: "header", name: "X-Account-Id" }), "$http_x_account_id");
      fc.assert(
        fc.property(
          fc.constantFrom("cookie" as const, "header" as const),
          fc.stringMatching(/^[A-Za-z0-9_]{1,20}$/),
          (from, name) => assert.deepEqual(parseCanaryKey(`${from}:${name}`), { from, name }),
        ),
      );
      assert.throws(() => parseCanaryKey("query:id"), /not a canary key: query:id/);
    });

    it("splits requests by request id into 100 buckets of 1% each, the last taking the rest", () => {
      const split = only(parseConfig(renderRouterSite(site)), "split_clients");
      assert.equal(split.args[0], '"${request_id}"', "per request, not per client");
      assert.equal(nginxBuckets.count, 100);
      assert.deepEqual(
        blockOf(split).map((d) => [d.name, ...d.args]),
        buckets.map((bucket) => [bucket === nginxBuckets.count - 1 ? "*" : "1%", String(bucket)]),
      );
    });

    it("sends each bucket where the pointer says, and the check listener to the active slot", () => {
      for (const s of [site, tlsSite]) {
        const config = parseConfig(renderRouterSite(s));
        for (const traffic of everyTraffic) {
          const files = pointerFiles(traffic);
          for (const bucket of buckets) {
            const response = respond(config, { port: publicPort(s), percentile: bucket + 0.5, files });
            const expected = s.upstreams[bucketSlot(traffic, bucket, nginxBuckets.count)];
            assert.equal(response.proxiedTo, expected, `${routeName(traffic)}, bucket ${bucket}`);
          }
          const check = respond(config, { port: s.listen.check, files });
          assert.equal(check.proxiedTo, s.upstreams[traffic.activeSlot], routeName(traffic));
        }
      }
    });

    it("with a fallback, sends each public request where the pointer says, backed by the other slot; never the check", () => {
      for (const s of [site, tlsSite]) {
        const config = parseConfig(renderRouterSite(s));
        fc.assert(
          fc.property(
            trafficArbitrary,
            fc.integer({ min: 0, max: nginxBuckets.count - 1 }),
            (traffic, bucket) => {
              const files = pointerFiles({ ...traffic, fallback: true });
              const response = respond(config, { port: publicPort(s), percentile: bucket + 0.5, files });
              const slot = bucketSlot(traffic, bucket, nginxBuckets.count);
              assert.equal(response.proxiedTo, s.upstreams[slot]);
              assert.equal(response.fallbackTo, s.upstreams[idleSlot(slot)]);
              const check = respond(config, { port: s.listen.check, files });
              assert.deepEqual(
                [check.proxiedTo, check.fallbackTo],
                [s.upstreams[traffic.activeSlot], undefined],
                "the watch sees the new slot as it is",
              );
            },
          ),
        );
        const plain = respond(config, {
          port: publicPort(s),
          files: pointerFiles({ activeSlot: "green", canaryWeight: 0 }),
        });
        assert.equal(plain.fallbackTo, undefined, "no fallback outside the post-switch window");
      }
    });

    it("never sends a request to a new slot alone when the pointer is renamed between its file tests", () => {
      // The provider's renames around a post-switch window: in (the new slot, the previous one as
      // its backup), then back (the previous slot alone) or on (the new slot alone, once it held).
      const windows = fc.record(
        {
          before: trafficArbitrary,
          to: fc.constantFrom(...slotColours),
          held: fc.boolean(),
          bucket: fc.integer({ min: 0, max: nginxBuckets.count - 1 }),
          atTest: fc.integer({ min: 0, max: 8 }),
        },
        { noNullPrototype: true },
      );
      const config = parseConfig(renderRouterSite(site));
      fc.assert(
        fc.property(windows, ({ before, to, held, bucket, atTest }) => {
          const inWindow: Traffic = { activeSlot: to, canaryWeight: 0, fallback: true };
          const after: Traffic = held ? { activeSlot: to, canaryWeight: 0 } : before;
          const renames: [Traffic, Traffic][] = [
            [before, inWindow],
            [inWindow, after],
          ];
          for (const [from, into] of renames) {
            const response = respond(config, {
              port: publicPort(site),
              percentile: bucket + 0.5,
              files: pointerFiles(from),
              renamed: { atTest, files: pointerFiles(into) },
            });
            const upstreamOf = (traffic: Traffic) =>
              site.upstreams[bucketSlot(traffic, bucket, nginxBuckets.count)];
            const pointedThere = [from, into].filter((traffic) => upstreamOf(traffic) === response.proxiedTo);
            assert.ok(pointedThere.length > 0, "the slot is one the pointer named");
            if (response.fallbackTo === undefined)
              assert.ok(
                pointedThere.some((traffic) => !traffic.fallback),
                `${routeName(from)} to ${routeName(into)} at test ${atTest}: the slot alone, where only the window named it`,
              );
          }
        }),
      );
    });

    it("puts a request in the bucket of its percentile, wherever in the bucket it falls", () => {
      const config = parseConfig(renderRouterSite(site));
      fc.assert(
        fc.property(
          trafficArbitrary,
          fc.double({ min: 0, max: 100, maxExcluded: true, noNaN: true }),
          (traffic, percentile) => {
            const response = respond(config, {
              port: site.listen.http,
              percentile,
              files: pointerFiles(traffic),
            });
            assert.equal(
              response.proxiedTo,
              site.upstreams[bucketSlot(traffic, Math.floor(percentile), nginxBuckets.count)],
            );
          },
        ),
      );
    });

    it("answers 503 on the public and check listeners without a pointer rather than guess a slot", () => {
      for (const s of [site, tlsSite]) {
        const config = parseConfig(renderRouterSite(s));
        for (const port of [publicPort(s), s.listen.check]) {
          for (const percentile of [0, 50, 99.9]) {
            const response = respond(config, { port, percentile, files: pointerFiles(undefined) });
            assert.equal(response.status, 503, `port ${port}`);
            assert.equal(response.proxiedTo, undefined);
          }
        }
      }
    });

    it("with TLS, redirects plain HTTP with 308 and serves HTTPS with HSTS and the live certificate", () => {
      const config = parseConfig(forGeneration(renderRouterSite(tlsSite), generationDir));
      for (const files of [pointerFiles({ activeSlot: "blue", canaryWeight: 0 }), pointerFiles(undefined)]) {
        for (const path of ["/", "/orders?page=2"]) {
          const redirect = respond(config, { port: site.listen.http, path, host: "api.example.com", files });
          const { status, location, proxiedTo } = redirect;
          assert.deepEqual(
            { status, location, proxiedTo },
            { status: 308, location: `https://api.example.com${path}`, proxiedTo: undefined },
          );
        }
      }
      const http = serverOn(config, site.listen.http);
      assert.deepEqual(argsOf(http, "listen"), [`203.0.113.7:${site.listen.http}`, "default_server"]);
      assert.deepEqual(argsOf(http, "server_name"), ["api.example.com", "www.example.com"]);

      const https = serverOn(config, site.listen.https);
      assert.deepEqual(argsOf(https, "listen"), [
        `203.0.113.7:${site.listen.https}`,
        "ssl",
        "http2",
        "default_server",
      ]);
      assert.deepEqual(argsOf(https, "server_name"), ["api.example.com", "www.example.com"]);
      assert.deepEqual(argsOf(https, "ssl_certificate"), ["$switchyard_certificate/fullchain.pem"]);
      assert.deepEqual(argsOf(https, "ssl_certificate_key"), ["$switchyard_certificate/privkey.pem"]);
      assert.deepEqual(argsOf(https, "ssl_protocols"), ["TLSv1.2", "TLSv1.3"]);
      assert.deepEqual(argsOf(https, "ssl_session_cache"), ["shared:switchyard_tls:10m"]);
      const files = pointerFiles({ activeSlot: "green", canaryWeight: 0 });
      for (const response of [
        respond(config, { port: site.listen.https, files }),
        respond(config, { port: site.listen.https, files: pointerFiles(undefined) }),
      ]) {
        assert.equal(response.headers["Strict-Transport-Security"], "max-age=31536000; includeSubDomains");
      }
    });

    it("with ACME, serves the client's tokens over plain HTTP and redirects everything else", () => {
      const config = parseConfig(renderRouterSite({ ...tlsSite, acme: siteAcme }));
      const token = "/.well-known/acme-challenge/Xk3_9-token";
      const files = new Set([`${stateDir}/acme-webroot${token}`]);
      const answer = (path: string) => {
        const { status, servedFile, location, contentType } = respond(config, {
          port: site.listen.http,
          path,
          host: "api.example.com",
          files,
        });
        return { status, servedFile, location, contentType };
      };
      assert.deepEqual(answer(token), {
        status: 200,
        servedFile: `${stateDir}/acme-webroot${token}`,
        location: undefined,
        contentType: "text/plain",
      });
      assert.equal(answer("/.well-known/acme-challenge/unknown").status, 404);
      assert.equal(answer("/.well-known/other").status, 308);
      assert.equal(answer("/").status, 308);
      // Without an ACME client the path is the app's, over HTTPS like the rest.
      const pasted = parseConfig(renderRouterSite(tlsSite));
      assert.equal(respond(pasted, { port: site.listen.http, path: token, files }).status, 308);
    });

    it("without TLS, serves the public on HTTP and has no TLS directive", () => {
      const config = parseConfig(renderRouterSite(site));
      const http = serverOn(config, site.listen.http);
      assert.deepEqual(argsOf(http, "listen"), [`203.0.113.7:${site.listen.http}`, "default_server"]);
      assert.deepEqual(argsOf(http, "server_name"), ["api.example.com", "www.example.com"]);
      const everything = JSON.stringify(config);
      assert.doesNotMatch(everything, /ssl|Strict-Transport-Security|https:|308/);
      assert.equal(named(config, "server").length, 2, "the public server and the check listener");
      const files = pointerFiles({ activeSlot: "green", canaryWeight: 0 });
      assert.equal(respond(config, { port: site.listen.http, files }).proxiedTo, site.upstreams.green);
    });

    it("adds the security headers to every response of every listener, redirects and errors included", () => {
      const expected = headersOf(parseConfig(securityHeaders.join("\n")));
      assert.equal(Object.keys(expected).length, securityHeaders.length);
      for (const s of [site, tlsSite]) {
        const config = parseConfig(renderRouterSite(s));
        // The public server, the check listener, and with TLS the plain-HTTP redirect.
        const ports = [...new Set([publicPort(s), s.listen.check, s.listen.http])];
        assert.equal(ports.length, s.tls ? 3 : 2);
        for (const port of ports) {
          for (const traffic of [{ activeSlot: "blue", canaryWeight: 30 } as const, undefined]) {
            const response = respond(config, { port, files: pointerFiles(traffic) });
            for (const [name, value] of Object.entries(expected))
              assert.equal(response.headers[name], value, `${name} on port ${port}, HTTP ${response.status}`);
          }
        }
      }
    });

    it("passes every proxied request over keep-alive connections, saying who asked", () => {
      assert.deepEqual(
        proxySettings.filter((setting) => setting.startsWith("proxy_next_upstream")),
        ["proxy_next_upstream error;", "proxy_next_upstream_tries 2;"],
        "on to a fallback only when the slot refused or broke the connection, and only once",
      );
      const settings = parseConfig(proxySettings.join("\n")).map((d) => JSON.stringify(d));
      for (const s of [site, tlsSite]) {
        const config = parseConfig(renderRouterSite(s));
        const proxying = named(config, "server")
          .flatMap((server) => named(blockOf(server), "location"))
          .filter((location) => named(blockOf(location), "proxy_pass").length > 0);
        assert.equal(proxying.length, 2, "the public server and the check listener");
        for (const location of proxying) {
          const directives = blockOf(location).map((d) => JSON.stringify(d));
          for (const setting of settings) assert.ok(directives.includes(setting), setting);
        }
      }
    });

    it("answers the generation probe on the check listener, with or without a pointer", () => {
      const config = parseConfig(forGeneration(renderRouterSite(site), generationDir));
      const check = serverOn(config, site.listen.check);
      assert.deepEqual(argsOf(check, "listen"), [`127.0.0.1:${site.listen.check}`], "loopback only");
      assert.deepEqual(argsOf(check, "server_name"), ["_"], "whatever the Host header");
      for (const traffic of [{ activeSlot: "green", canaryWeight: 50 } as const, undefined]) {
        const files = pointerFiles(traffic);
        const probe = respond(config, { port: site.listen.check, path: generationProbePath, files });
        const { status, body, contentType } = probe;
        assert.deepEqual(
          { status, body, contentType },
          { status: 200, body: generationDir, contentType: "text/plain" },
        );
      }
      const files = pointerFiles({ activeSlot: "green", canaryWeight: 0 });
      const outside = respond(config, { port: site.listen.http, path: generationProbePath, files });
      assert.equal(outside.proxiedTo, site.upstreams.green, "the public listener leaves the path to the app");
    });
  });

  describe("site generations", () => {
    it("keeps the pointer, routes, generations and certificates where the provider's commands look for them", () => {
      assert.deepEqual(routerLayout(stateDir), {
        live: `${stateDir}/live`,
        routes: `${stateDir}/routes`,
        current: `${stateDir}/current`,
        acme: `${stateDir}/acme`,
        acmeWebroot: `${stateDir}/acme-webroot`,
        sites: `${stateDir}/sites`,
        certificate: `${stateDir}/certificate`,
        certificates: `${stateDir}/certificates`,
        maintenancePage: `${stateDir}/maintenance.html`,
      });
    });

    it("sends public requests to the maintenance page while it exists, never the check listener's", () => {
      for (const s of [site, tlsSite]) {
        const parsed = parseConfig(renderRouterSite(s));
        const server = serverOn(parsed, publicPort(s));
        assert.deepEqual(argsOf(server, "error_page"), ["503", maintenancePath]);
        const page = blockOf(
          named(server, "location").find((l) => l.args.join(" ") === `= ${maintenancePath}`) as Directive,
        );
        assert.deepEqual(argsOf(page, "alias"), [`${stateDir}/maintenance.html`]);
        assert.ok(named(page, "internal").length === 1, "not reachable from outside");
        assert.deepEqual(argsOf(page, "default_type"), ["text/html"]);
        assert.ok(named(page, "if").length === 1, "without a page, nginx's own 503");
        assert.deepEqual(
          named(page, "add_header").map((h) => h.args[0]),
          ["Retry-After", "Cache-Control", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"],
        );
        assert.ok(named(page, "add_header").some((h) => h.args.join(" ") === "Retry-After 45 always"));
        const root = blockOf(named(server, "location").find((l) => l.args.join(" ") === "/") as Directive);
        assert.deepEqual(named(root, "if")[0].args, ["(-f", `${stateDir}/maintenance.html)`]);
        const check = serverOn(parsed, s.listen.check);
        assert.equal(named(check, "error_page").length, 0);
        assert.ok(
          !renderRouterSite(s).split(`listen 127.0.0.1:${s.listen.check}`)[1].includes("maintenance"),
        );
      }
    });

    it("escapes the maintenance message into the page", () => {
      const page = renderMaintenancePage(`Back at 5 <b>"soon"</b> & 'later'`);
      assert.match(page, /<p>Back at 5 &#60;b&#62;&#34;soon&#34;&#60;\/b&#62; &#38; &#39;later&#39;<\/p>/);
      fc.assert(
        fc.property(fc.string(), (message) => {
          const body = /<p>(.*)<\/p>/s.exec(renderMaintenancePage(message))?.[1] ?? "";
          assert.doesNotMatch(body, /[<>"']/);
        }),
      );
    });

    it("reads the certificate and key through the certificate link, per handshake (a variable path)", () => {
      const files = renderTlsFiles({ certificate: "CERTIFICATE", key: "KEY" });
      const site = parseConfig(forGeneration(renderRouterSite(tlsSite), generationDir));
      const map = only(site, "map");
      assert.deepEqual(map.args, ["$ssl_server_name", "$switchyard_certificate"]);
      assert.deepEqual(argsOf(blockOf(map), "default"), [routerLayout(stateDir).certificate]);
      const https = serverOn(site, 8443);
      const read = (directive: string) => {
        const [file] = argsOf(https, directive);
        assert.ok(file.startsWith("$switchyard_certificate/"), `${directive} ${file} holds the variable`);
        return file.slice("$switchyard_certificate/".length);
      };
      assert.deepEqual(files, {
        [read("ssl_certificate")]: "CERTIFICATE",
        [read("ssl_certificate_key")]: "KEY",
      });
      assert.ok(
        !Object.values(renderRouterFiles(main, tlsSite)).some((text) => text.includes("CERTIFICATE")),
      );
    });

    it("puts the generation directory everywhere the token stands", () => {
      fc.assert(
        fc.property(fc.array(fc.string()), fc.string(), (parts, dir) => {
          assert.equal(forGeneration(parts.join(generationDirToken), dir), parts.join(dir));
        }),
      );
      for (const text of Object.values(renderRouterFiles(main, tlsSite))) {
        assert.ok(text.includes(generationDirToken));
        assert.ok(!forGeneration(text, generationDir).includes(generationDirToken));
      }
    });

    it("names a generation by 16 hex digits, the same across releases and whatever the key order", () => {
      // A new hashing scheme would rename every unchanged generation, and reload every router: this
      // is the id the scheme from before certificates left the generation gave this site.
      assert.equal(generationId({ "site.conf": "server {}" }), "3bbc486ad2bc6da3");
      fc.assert(
        fc.property(fc.dictionary(fileName, fc.string(), { minKeys: 2 }), (files) => {
          const reversed = Object.fromEntries(Object.entries(files).reverse());
          assert.match(generationId(files), /^[0-9a-f]{16}$/);
          assert.equal(generationId(reversed), generationId(files));
          assert.match(certificateId(files), /^[0-9a-f]{16}$/);
          assert.equal(certificateId(reversed), certificateId(files));
        }),
      );
    });

    it("makes a new generation or certificate id when any file changes or appears", () => {
      for (const id of [generationId, certificateId]) {
        fc.assert(
          fc.property(fc.dictionary(fileName, fc.string()), fileName, fc.string(), (files, file, content) => {
            fc.pre(files[file] !== content);
            assert.notEqual(id({ ...files, [file]: content }), id(files));
          }),
        );
      }
    });
  });

  describe("traffic", () => {
    it("parses back every route it names, bare or under routes/, and names back every route it parses", () => {
      const traffic = fc.record(
        {
          activeSlot: fc.constantFrom(...slotColours),
          canaryWeight: fc.integer({ min: 0, max: 100 }),
          fallback: fc.constant(true),
        },
        { requiredKeys: ["activeSlot", "canaryWeight"] },
      );
      fc.assert(
        fc.property(traffic, (t) => {
          assert.deepEqual(parseRoute(routeName(t)), { ...t });
          assert.deepEqual(parseRoute(`routes/${routeName(t)}`), { ...t });
        }),
      );
      fc.assert(
        fc.property(fc.string(), (target) => {
          const parsed = parseRoute(target);
          if (parsed) assert.ok(target.trim().endsWith(routeName(parsed)), target);
        }),
      );
    });

    it("the idle slot is the other one", () => {
      assert.equal(idleSlot("blue"), "green");
      assert.equal(idleSlot("green"), "blue");
    });

    it("sends the buckets below the canary weight to the idle slot, the rest to the active one", () => {
      for (const traffic of everyTraffic) {
        const idle: SlotColour = traffic.activeSlot === "blue" ? "green" : "blue";
        assert.deepEqual(
          buckets.map((bucket) => bucketSlot(traffic, bucket, nginxBuckets.count)),
          [
            ...Array<SlotColour>(traffic.canaryWeight).fill(idle),
            ...Array<SlotColour>(nginxBuckets.count - traffic.canaryWeight).fill(traffic.activeSlot),
          ],
          routeName(traffic),
        );
      }
    });

    it("gives the active slot everything at weight 0, the idle one everything at 100, both in between", () => {
      const cases: [Traffic, [SlotColour, number][]][] = [
        [{ activeSlot: "blue", canaryWeight: 0 }, [["blue", 100]]],
        [{ activeSlot: "green", canaryWeight: 0 }, [["green", 100]]],
        [
          { activeSlot: "blue", canaryWeight: 1 },
          [
            ["blue", 99],
            ["green", 1],
          ],
        ],
        [
          { activeSlot: "green", canaryWeight: 10 },
          [
            ["green", 90],
            ["blue", 10],
          ],
        ],
        [
          { activeSlot: "blue", canaryWeight: 99 },
          [
            ["blue", 1],
            ["green", 99],
          ],
        ],
        [{ activeSlot: "blue", canaryWeight: 100 }, [["green", 100]]],
        [{ activeSlot: "green", canaryWeight: 100 }, [["blue", 100]]],
      ];
      for (const [traffic, servers] of cases)
        assert.deepEqual(upstreamServers(traffic), servers, routeName(traffic));
    });

    it("agrees on every traffic: the route's entries, the bucket slots and the upstream shares", () => {
      for (const traffic of everyTraffic) {
        const toGreen = buckets.filter(
          (bucket) => bucketSlot(traffic, bucket, nginxBuckets.count) === "green",
        );
        const expected = ["routed", ...toGreen.map((b) => `green.${b}`)];
        if (traffic.activeSlot === "green") expected.push("green.active");
        assert.deepEqual(
          [...routeEntries(traffic, nginxBuckets)].sort(),
          expected.sort(),
          routeName(traffic),
        );
        const withFallback = { ...traffic, fallback: true };
        assert.deepEqual(
          [...routeEntries(withFallback, nginxBuckets)].sort(),
          [...expected, "fallback"].sort(),
          routeName(withFallback),
        );
        const shares = upstreamServers(traffic);
        assert.ok(
          shares.every(([, share]) => share > 0),
          "no slot is listed with nothing",
        );
        const share = new Map(shares);
        assert.equal(share.get("green") ?? 0, toGreen.length, routeName(traffic));
        assert.equal(share.get("blue") ?? 0, nginxBuckets.count - toGreen.length, routeName(traffic));
      }
    });

    it("names a route after its traffic and reads every name back, bare, in a path or as readlink prints it", () => {
      assert.equal(routeName({ activeSlot: "green", canaryWeight: 10 }), "green-10");
      assert.equal(routeName({ activeSlot: "green", canaryWeight: 0, fallback: true }), "green-0-fallback");
      for (const traffic of [...everyTraffic, ...everyTraffic.map((each) => ({ ...each, fallback: true }))]) {
        const name = routeName(traffic);
        for (const target of [name, `routes/${name}`, `${stateDir}/routes/${name}`, ` routes/${name}\n`]) {
          assert.deepEqual(parseRoute(target), traffic, JSON.stringify(target));
        }
      }
      const segment = fc.stringMatching(/^[\w.-]{1,8}$/);
      fc.assert(
        fc.property(
          anyTraffic,
          fc.array(segment),
          fc.constantFrom("", " ", "\n", "\t"),
          (traffic, dirs, space) => {
            const target = [...dirs, routeName(traffic)].join("/");
            assert.deepEqual(parseRoute(`${space}${target}${space}`), traffic);
          },
        ),
      );
    });

    it("refuses names that no traffic has", () => {
      for (const target of [
        "",
        "routes/",
        "green",
        "green-",
        "-10",
        "green-101",
        "blue-999",
        "green-1000",
        "green-0100",
        "green--1",
        "green-1.5",
        "red-10",
        "GREEN-10",
        "green_10",
        "green 10",
        "xgreen-10",
        "routes/xgreen-10",
        "green-10x",
        "green-10/",
        "routes/green-10/routed",
        "routes/green-10.new",
        "green-10-fallback.new",
        "green-10-fallbacks",
        "green-fallback",
        "green-10fallback",
      ]) {
        assert.equal(parseRoute(target), undefined, JSON.stringify(target));
      }
    });
  });
});
