import assert from "node:assert/strict";
import fc from "fast-check";
import {
  caddyBuckets,
  caddySiteFile,
  containerCaddy,
  renderCaddyBoot,
  renderCaddyFiles,
} from "../../components/providers/caddyConfig";
import { nginxBuckets } from "../../components/providers/nginxConfig";
import { serverCommands } from "../../components/providers/routerServer";
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

  it("refuses what Caddy cannot serve here: TLS, and a canary pinned per user", () => {
    assert.throws(() => renderCaddyFiles({ ...site, tls: true }, containerCaddy.adminAddress));
    assert.throws(() =>
      renderCaddyFiles(
        { ...site, canary: { key: { from: "cookie", name: "account" }, allowlist: [] } },
        containerCaddy.adminAddress,
      ),
    );
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
