import assert from "node:assert/strict";
import fc from "fast-check";
import {
  caddyAcmeFailure,
  caddyAcmeLog,
  caddyBuckets,
  caddySiteFile,
  containerCaddy,
  renderCaddyBoot,
  renderCaddyFiles,
} from "../../components/providers/caddyConfig";
import { containerNginxMain, nginxBuckets } from "../../components/providers/nginxConfig";
import { containerStateDir, serverCommands } from "../../components/providers/routerServer";
import {
  type BucketScheme,
  bucketSlot,
  generationDirToken,
  generationProbePath,
  routeEntries,
  type RouterSite,
} from "../../components/providers/routerState";

const site: RouterSite = {
  upstreams: { blue: "127.0.0.1:3001", green: "127.0.0.1:3002" },
  serverName: "_",
  listen: { address: "0.0.0.0", http: 80, https: 443, check: 18080 },
  tls: false,
  stateDir: containerCaddy.stateDir,
  retryAfterSeconds: 30,
};

interface Route {
  match?: Record<string, unknown>[];
  handle?: Record<string, unknown>[];
}

function servers(text: string): Record<string, { listen: string[]; routes: Route[] }> {
  return JSON.parse(text).apps.http.servers;
}

describe("caddy configuration", () => {
  const rendered = renderCaddyFiles(site, containerCaddy.adminAddress)[caddySiteFile];
  const { public: publicServer, check } = servers(rendered);
  const handlers = (routes: Route[]) => routes.flatMap((route) => route.handle ?? []).map((h) => h.handler);

  it("keeps the admin endpoint of the boot configuration in every site, unpersisted", () => {
    for (const text of [rendered, renderCaddyBoot(containerCaddy.adminAddress)])
      assert.deepEqual(JSON.parse(text).admin, {
        listen: containerCaddy.adminAddress,
        config: { persist: false },
      });
  });

  it("listens publicly on the HTTP port only, and checks on 127.0.0.1", () => {
    assert.deepEqual(publicServer.listen, ["0.0.0.0:80"]);
    assert.deepEqual(check.listen, ["127.0.0.1:18080"]);
  });

  it("answers maintenance before routing, and compresses public answers only", () => {
    const order = handlers(publicServer.routes);
    assert.ok(order.indexOf("file_server") < order.indexOf("reverse_proxy"));
    assert.ok(order.includes("encode"));
    assert.ok(!handlers(check.routes).includes("encode"));
    assert.ok(!handlers(check.routes).includes("file_server"), "the check listener has no maintenance page");
  });

  it("falls back to the previous slot on the public server only, retrying on it once", () => {
    const proxies = (routes: Route[]) =>
      routes.flatMap((route) => route.handle ?? []).filter((h) => h.handler === "reverse_proxy");
    const withFallback = proxies(publicServer.routes).filter((proxy) => proxy.load_balancing !== undefined);
    assert.deepEqual(
      withFallback.map((proxy) => proxy.upstreams),
      [
        [{ dial: "127.0.0.1:3001" }, { dial: "127.0.0.1:3002" }],
        [{ dial: "127.0.0.1:3002" }, { dial: "127.0.0.1:3001" }],
      ],
    );
    for (const proxy of withFallback)
      assert.deepEqual(proxy.load_balancing, { selection_policy: { policy: "first" }, retries: 1 });
    assert.deepEqual(
      proxies(check.routes).map((proxy) => proxy.upstreams),
      [[{ dial: "127.0.0.1:3001" }], [{ dial: "127.0.0.1:3002" }]],
    );
  });

  it("answers the generation probe on the check listener with the generation's directory", () => {
    const probe = check.routes.find((route) =>
      JSON.stringify(route.match ?? []).includes(generationProbePath),
    );
    assert.equal(probe?.handle?.[0].body, generationDirToken);
  });

  it("leaves certificates to the config (no automatic HTTPS) and answers the probe as plain text, last", () => {
    for (const server of [publicServer, check])
      assert.deepEqual((server as { automatic_https?: unknown }).automatic_https, { disable: true });
    const probe = check.routes[1] as Route & { terminal?: boolean };
    assert.deepEqual(probe.match, [{ path: [generationProbePath] }]);
    assert.deepEqual(probe.handle?.[0], {
      handler: "static_response",
      status_code: 200,
      headers: { "Content-Type": ["text/plain"] },
      body: generationDirToken,
    });
    assert.equal(probe.terminal, true);
  });

  it("draws the bucket from the request id and tests the green entry of that bucket, or of the active slot", () => {
    const captures = publicServer.routes.filter((route) =>
      JSON.stringify(route.match ?? []).includes("vars_regexp"),
    );
    assert.deepEqual(captures, [
      {
        match: [
          { vars_regexp: { "{http.request.uuid}": { name: "switchyard_bucket", pattern: "^[0-9a-f]{2}" } } },
        ],
        handle: [{ handler: "vars", switchyard_bucket: "{http.regexp.switchyard_bucket.0}" }],
      },
    ]);
    const greenEntries = (routes: Route[]) =>
      routes
        .flatMap((route) => route.match ?? [])
        .map((matcher) => (matcher.file as { try_files?: string[] } | undefined)?.try_files?.[0])
        .filter((name) => name?.startsWith("green."));
    assert.deepEqual(greenEntries(publicServer.routes), ["green.{http.vars.switchyard_bucket}"]);
    assert.deepEqual(greenEntries(check.routes), ["green.active"]);
    assert.deepEqual(
      publicServer.routes.flatMap((route) => route.handle ?? []).find((h) => h.handler === "encode"),
      { handler: "encode", encodings: { zstd: {}, gzip: {} }, prefer: ["zstd", "gzip"] },
    );
  });

  it("sets the security headers on every answer of both servers, replacing a slot's, and drops Server", () => {
    for (const server of [publicServer, check])
      assert.deepEqual(server.routes[0], {
        handle: [
          {
            handler: "headers",
            response: {
              set: {
                "X-Content-Type-Options": ["nosniff"],
                "X-Frame-Options": ["DENY"],
                "Referrer-Policy": ["strict-origin-when-cross-origin"],
              },
              delete: ["Server"],
              deferred: true,
            },
          },
        ],
      });
  });

  it("answers a public request with the maintenance page and a 503 while the page exists", () => {
    const maintenance = publicServer.routes.find((route) =>
      (route.handle ?? []).some((h) => h.handler === "file_server"),
    );
    assert.deepEqual(maintenance, {
      match: [{ file: { root: containerCaddy.stateDir, try_files: ["maintenance.html"] } }],
      handle: [
        { handler: "headers", response: { set: { "Retry-After": ["30"], "Cache-Control": ["no-store"] } } },
        { handler: "rewrite", uri: "/maintenance.html" },
        { handler: "file_server", root: containerCaddy.stateDir, status_code: 503 },
      ],
      terminal: true,
    });
  });

  it("routes by the pointer's files, in nginx's order, to one proxy per slot, and answers 503 without a pointer", () => {
    const live = `${containerCaddy.stateDir}/live`;
    const proxyTo = (address: string) => ({
      handler: "reverse_proxy",
      upstreams: [{ dial: address }],
      headers: {
        request: {
          set: { "X-Real-IP": ["{http.request.remote.host}"], "X-Request-Id": ["{http.request.uuid}"] },
        },
      },
    });
    assert.deepEqual(check.routes.slice(2), [
      { handle: [{ handler: "vars", switchyard_slot: "", switchyard_fallback: "" }] },
      {
        match: [{ file: { root: live, try_files: ["routed"] } }],
        handle: [{ handler: "vars", switchyard_slot: "blue" }],
      },
      {
        match: [{ file: { root: live, try_files: ["green.active"] } }],
        handle: [{ handler: "vars", switchyard_slot: "green" }],
      },
      {
        handle: [
          { handler: "vars", switchyard_route: "{http.vars.switchyard_slot}{http.vars.switchyard_fallback}" },
        ],
      },
      {
        match: [{ vars: { switchyard_route: ["blue"] } }],
        handle: [proxyTo("127.0.0.1:3001")],
        terminal: true,
      },
      {
        match: [{ vars: { switchyard_route: ["green"] } }],
        handle: [proxyTo("127.0.0.1:3002")],
        terminal: true,
      },
      { handle: [{ handler: "static_response", status_code: 503 }] },
    ]);
    const reads = (entry: string) =>
      publicServer.routes.flatMap((route, index) =>
        JSON.stringify(route.match ?? []).includes(`"try_files":["${entry}"]`) ? [{ route, index }] : [],
      );
    const fallbackReads = reads("fallback");
    for (const { route } of fallbackReads)
      assert.deepEqual(route.handle, [{ handler: "vars", switchyard_fallback: "-fallback" }]);
    const slotReads = [...reads("routed"), ...reads("green.{http.vars.switchyard_bucket}")];
    assert.deepEqual(
      fallbackReads.map(({ index }) => Math.sign(index - slotReads[0].index)),
      [-1, 1],
      "the fallback marker is read before the slot and after it: a rename between the reads is seen",
    );
    assert.ok(slotReads.every(({ index }) => index < fallbackReads[1].index));
    const toGreenWithFallback = publicServer.routes.find(
      (route) =>
        JSON.stringify(route.match ?? []) ===
        JSON.stringify([{ vars: { switchyard_route: ["green-fallback"] } }]),
    );
    assert.deepEqual(toGreenWithFallback?.handle?.[0], {
      ...proxyTo("127.0.0.1:3002"),
      upstreams: [{ dial: "127.0.0.1:3002" }, { dial: "127.0.0.1:3001" }],
      load_balancing: { selection_policy: { policy: "first" }, retries: 1 },
      health_checks: { passive: { fail_duration: "1s", max_fails: 1 } },
    });
  });

  it("refuses what Caddy cannot serve here: a pasted certificate, and a canary pinned per user", () => {
    assert.throws(
      () => renderCaddyFiles({ ...site, tls: true }, containerCaddy.adminAddress),
      /the caddy router gets its certificates from ACME only, and splits requests one by one/,
    );
    assert.throws(() =>
      renderCaddyFiles(
        { ...site, canary: { key: { from: "cookie", name: "account" }, allowlist: [] } },
        containerCaddy.adminAddress,
      ),
    );
  });

  describe("with certificates from ACME", () => {
    const acme = {
      email: "ops@example.com",
      directory: "https://acme-v02.api.letsencrypt.org/directory",
      names: ["shop.example.com", "www.shop.example.com"],
      checkIntervalSeconds: 600,
      directoryCertificateFile: containerCaddy.acmeDirectoryCertificate,
    };
    const config = JSON.parse(
      renderCaddyFiles({ ...site, tls: true, acme }, containerCaddy.adminAddress)[caddySiteFile],
    );
    const acmeServers = config.apps.http.servers as Record<string, { listen: string[]; routes: Route[] }>;

    it("serves the public on HTTPS with HSTS, and redirects plain HTTP, where Caddy answers the CA's challenges", () => {
      assert.deepEqual(acmeServers.public.listen, ["0.0.0.0:443"]);
      assert.deepEqual((acmeServers.public as Record<string, unknown>).tls_connection_policies, [{}]);
      const hsts = acmeServers.public.routes[0].handle?.[0] as {
        response: { set: Record<string, string[]> };
      };
      assert.deepEqual(hsts.response.set["Strict-Transport-Security"], [
        "max-age=31536000; includeSubDomains",
      ]);
      assert.deepEqual(acmeServers.redirect.listen, ["0.0.0.0:80"]);
      assert.deepEqual(acmeServers.redirect.routes[1].handle, [
        {
          handler: "static_response",
          status_code: 308,
          headers: { Location: ["https://{http.request.host}{http.request.uri}"] },
        },
      ]);
      assert.deepEqual([config.apps.http.http_port, config.apps.http.https_port], [80, 443]);
      assert.deepEqual(acmeServers.check.listen, ["127.0.0.1:18080"]);
    });

    it("manages the names with the ACME issuer over HTTP-01, its state and log in the state directory", () => {
      assert.deepEqual(config.apps.tls, {
        certificates: { automate: acme.names },
        automation: {
          policies: [
            {
              subjects: acme.names,
              issuers: [
                {
                  module: "acme",
                  ca: acme.directory,
                  email: acme.email,
                  trusted_roots_pem_files: [containerCaddy.acmeDirectoryCertificate],
                  challenges: { "tls-alpn": { disabled: true } },
                },
              ],
            },
          ],
          renew_interval: "600s",
        },
      });
      assert.deepEqual(config.storage, { module: "file_system", root: `${containerCaddy.stateDir}/acme` });
      assert.equal(config.logging.logs.acme.writer.filename, caddyAcmeLog(containerCaddy.stateDir));
      assert.deepEqual(config.logging.logs.acme.include, ["tls"]);
    });

    it("reads the last failure not followed by a success, per name, since a time", () => {
      const line = (ts: number, msg: string, identifier: string, error?: string) =>
        JSON.stringify({ level: error ? "error" : "info", ts, logger: "tls.obtain", msg, identifier, error });
      const failed = "could not get certificate from issuer";
      const log = [
        line(100, failed, "shop.example.com", "HTTP 400 urn:ietf:params:acme:error:dns - NXDOMAIN"),
        "not json",
        line(110, "certificate obtained successfully", "shop.example.com"),
        line(120, failed, "other.example.com", "not ours"),
        line(130, failed, "www.shop.example.com", "HTTP 400 urn:ietf:params:acme:error:connection - refused"),
      ].join("\n");
      assert.equal(
        caddyAcmeFailure(log, acme.names),
        "1970-01-01T00:02:10.000Z www.shop.example.com: HTTP 400 urn:ietf:params:acme:error:connection - refused",
      );
      assert.equal(caddyAcmeFailure(log, ["shop.example.com"]), undefined, "obtained since it failed");
      assert.equal(caddyAcmeFailure(log, acme.names, 131), undefined, "nothing since then");
    });
  });

  it("names its 256 buckets by the two hex digits the request id starts with, and back", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: caddyBuckets.count - 1 }), (bucket) => {
        const name = caddyBuckets.name(bucket);
        assert.match(name, /^[0-9a-f]{2}$/);
        assert.equal(Number.parseInt(name, 16), bucket);
      }),
    );
    assert.ok(rendered.includes('"pattern": "^[0-9a-f]{2}"'));
  });
});

describe("router servers", () => {
  it("test and load a generation with each server's own commands", () => {
    const nginx = serverCommands(
      { kind: "nginx", command: ["nginx"], mainConfig: "/etc/nginx/nginx.conf" },
      "/s",
    );
    assert.deepEqual(nginx.test("/s/sites/a"), ["nginx", "-t", "-c", "/s/sites/a/main.conf.test"]);
    assert.deepEqual(nginx.reload("sites/a"), ["nginx", "-c", "/etc/nginx/nginx.conf", "-s", "reload"]);
    const caddy = serverCommands(
      { kind: "caddy", command: ["caddy"], bootConfig: "/boot.json", adminAddress: "unix//run/a.sock" },
      "/s",
    );
    assert.deepEqual(caddy.test("/s/sites/a"), ["caddy", "validate", "--config", "/s/sites/a/caddy.json"]);
    assert.deepEqual(caddy.reload("sites/a"), [
      "caddy",
      "reload",
      "--config",
      "/s/current/caddy.json",
      "--address",
      "unix//run/a.sock",
    ]);
    assert.deepEqual(caddy.reload(undefined).slice(3, 4), ["/boot.json"], "no site: the boot configuration");
    assert.deepEqual(
      [nginx.name, nginx.testName, nginx.siteFiles, caddy.name, caddy.testName, caddy.siteFiles],
      ["nginx", "nginx -t", ["site.conf", "main.conf.test"], "Caddy", "caddy validate", ["caddy.json"]],
    );
    assert.deepEqual([nginx.buckets, caddy.buckets], [nginxBuckets, caddyBuckets]);
  });

  it("mounts each kind's state volume where its configuration looks for it", () => {
    assert.equal(containerStateDir("nginx"), containerNginxMain.stateDir);
    assert.equal(containerStateDir("caddy"), containerCaddy.stateDir);
    assert.notEqual(containerNginxMain.stateDir, containerCaddy.stateDir);
  });
});

describe("buckets", () => {
  const schemes: [string, BucketScheme][] = [
    ["nginx", nginxBuckets],
    ["caddy", caddyBuckets],
  ];
  for (const [kind, scheme] of schemes) {
    it(`${kind}: the idle slot's share of buckets is the canary weight within half a bucket`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom("blue" as const, "green" as const),
          fc.integer({ min: 0, max: 100 }),
          (activeSlot, canaryWeight) => {
            const traffic = { activeSlot, canaryWeight };
            const idle = Array.from({ length: scheme.count }, (_, bucket) => bucket).filter(
              (bucket) => bucketSlot(traffic, bucket, scheme.count) !== activeSlot,
            ).length;
            assert.ok(Math.abs(idle / scheme.count - canaryWeight / 100) <= 0.5 / scheme.count);
            // A weight above 0 always reaches the idle slot, and one below 100 the active one.
            if (canaryWeight > 0) assert.ok(idle > 0);
            if (canaryWeight < 100) assert.ok(idle < scheme.count);
            const greens = routeEntries(traffic, scheme).filter((entry) => /^green\.[0-9a-f]+$/.test(entry));
            assert.equal(greens.length, activeSlot === "green" ? scheme.count - idle : idle);
          },
        ),
      );
    });
  }
});
