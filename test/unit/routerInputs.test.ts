import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { certificatePairProblems } from "../../components/providers/certificatePair";
import { checked, unknownValue } from "../../components/providers/inputs";
import { caddySiteFile } from "../../components/providers/caddyConfig";
import type { NginxServer } from "../../components/providers/routerServer";
import { siteFile, testMainFile } from "../../components/providers/nginxConfig";
import { renderTlsFiles } from "../../components/providers/routerState";
import { selfSignedCertificate } from "../support/nginx";
import {
  type RouterUpstreamInputs,
  routerInputProblems,
  verificationSpec,
} from "../../components/providers/routerInputs";

const inputs: RouterUpstreamInputs = {
  executor: { kind: "local" },
  exec: ["docker", "exec", "-i", "router"],
  server: { kind: "nginx", command: ["nginx"], mainConfig: "/etc/nginx/nginx.conf" },
  stateDir: "/var/lib/switchyard/router",
  files: { [siteFile]: "server {}", [testMainFile]: "events {}", "conf.d/extra.conf": "" },
  secretFiles: {},
  activeSlot: "blue",
  canaryWeight: 0,
  checkHost: "127.0.0.1",
  checkPort: 8081,
  path: "/health",
  expectedVersion: "1.0.0",
  stableForMs: 30_000,
  intervalMs: 2000,
  timeoutMs: 5000,
  allowDegraded: false,
  smokeChecks: [{ path: "/", status: 200 }],
};

const nginxServer: NginxServer = { kind: "nginx", command: ["nginx"], mainConfig: "/etc/nginx/nginx.conf" };

const properties = (news: RouterUpstreamInputs) => routerInputProblems(news).map((p) => p.property);

describe("router inputs", () => {
  it("finds nothing wrong with what the Router component passes", () => {
    assert.deepEqual(routerInputProblems(inputs), []);
  });

  it("names every input that is wrong, by the name a user set", () => {
    const bad = {
      ...inputs,
      executor: { kind: "telnet" },
      exec: "docker exec",
      server: { kind: "nginx", command: [], mainConfig: "nginx.conf", workerUser: "nginx; rm" },
      stateDir: "/",
      activeSlot: "red",
      canaryWeight: 101,
      checkHost: "127.0.0.1; rm",
      checkPort: 0,
      path: "health",
      expectedVersion: "",
      stableForMs: -1,
      smokeChecks: [{ path: "/", status: 99 }],
    } as unknown as RouterUpstreamInputs;
    assert.deepEqual(properties(bad), [
      "executor",
      "exec",
      "server.command",
      "server.mainConfig",
      "server.workerUser",
      "stateDir",
      "activeSlot",
      "canaryWeight",
      "checkHost",
      "checkPort",
      "path",
      "expectedVersion",
      "stableForMs",
      "smokeChecks[0].status",
    ]);
  });

  it("keeps generation files inside the generation, as text, with the files nginx -t needs", () => {
    const files = { "../escape.conf": "", "a/./b.conf": "", "/abs.conf": "", "ok.conf": 7 };
    assert.deepEqual(routerInputProblems({ ...inputs, files } as unknown as RouterUpstreamInputs), [
      { property: "files.../escape.conf", reason: "expected a relative path inside the generation" },
      { property: "files.a/./b.conf", reason: "expected a relative path inside the generation" },
      { property: "files./abs.conf", reason: "expected a relative path inside the generation" },
      { property: "files.ok.conf", reason: "expected text" },
      { property: "files", reason: `must contain ${siteFile} (renderRouterFiles)` },
      { property: "files", reason: `must contain ${testMainFile} (renderRouterFiles)` },
    ]);
    assert.deepEqual(properties({ ...inputs, secretFiles: [] as unknown as Record<string, string> }), [
      "secretFiles",
    ]);
  });

  it("takes Caddy's settings and its one site file, and names each that is wrong", () => {
    const caddy: RouterUpstreamInputs = {
      ...inputs,
      server: {
        kind: "caddy",
        command: ["caddy"],
        bootConfig: "/etc/caddy/boot.json",
        adminAddress: "unix//run/admin.sock",
      },
      files: { [caddySiteFile]: "{}" },
    };
    assert.deepEqual(routerInputProblems(caddy), []);
    const bad = {
      ...caddy,
      server: { kind: "caddy", command: ["caddy"], bootConfig: "boot.json", adminAddress: "localhost:2019" },
      files: { [siteFile]: "server {}" },
    } as RouterUpstreamInputs;
    assert.deepEqual(properties(bad), ["server.bootConfig", "server.adminAddress", "files"]);
    assert.deepEqual(
      properties({ ...caddy, server: { kind: "traefik" } } as unknown as RouterUpstreamInputs),
      ["server.kind"],
    );
  });

  it("takes the ACME client's account and names instead of a pasted certificate, and names what is wrong", async () => {
    const acme = {
      exec: ["docker", "exec", "-i", "router-acme"],
      email: "ops@example.com",
      directory: "https://acme-v02.api.letsencrypt.org/directory",
      names: ["shop.example.com", "www.shop.example.com"],
    };
    assert.deepEqual(routerInputProblems({ ...inputs, acme }), []);
    const tls = await selfSignedCertificate();
    const bad = {
      ...inputs,
      acme: { exec: [], email: "", directory: 7, names: ["shop.example.com; rm"] },
      secretFiles: renderTlsFiles(tls),
    } as unknown as RouterUpstreamInputs;
    assert.deepEqual(properties(bad), [
      "acme.exec",
      "acme.names",
      "acme.email",
      "acme.directory",
      "secretFiles",
    ]);
  });

  it("takes a chain and the key that belongs to it, and names what is wrong with others without quoting them", async () => {
    const tls = await selfSignedCertificate();
    const other = await selfSignedCertificate();
    const withFiles = (secretFiles: Record<string, string>) =>
      routerInputProblems({ ...inputs, secretFiles, server: { ...nginxServer, workerUser: "nginx" } });
    assert.deepEqual(withFiles(renderTlsFiles(tls)), []);
    const refused: [Record<string, string>, RegExp][] = [
      [
        renderTlsFiles({ ...tls, key: other.key }),
        /the key does not belong to the chain's first certificate/,
      ],
      [renderTlsFiles({ ...tls, certificate: "not a certificate" }), /holds no PEM certificate/],
      [
        renderTlsFiles({ ...tls, key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }),
        /not an unencrypted PEM private key/,
      ],
      [{ "fullchain.pem": tls.certificate }, /expected exactly fullchain.pem and privkey.pem/],
    ];
    for (const [files, reason] of refused) {
      const problems = withFiles(files);
      assert.deepEqual(
        problems.map((p) => p.property),
        ["secretFiles"],
      );
      assert.match(problems[0].reason, reason);
      assert.ok(!problems[0].reason.includes("PRIVATE KEY") && !problems[0].reason.includes("MII"));
    }
    const notAfter = new Date(new X509Certificate(tls.certificate).validTo);
    assert.deepEqual(
      certificatePairProblems(tls.certificate, tls.key, notAfter),
      [],
      "valid through notAfter",
    );
    const aSecondLater = new Date(notAfter.getTime() + 1000);
    assert.deepEqual(
      certificatePairProblems(tls.certificate, tls.key, aSecondLater).map((reason) =>
        reason.replace(/\(.*\)/, ""),
      ),
      ["the certificate expired "],
    );
    const garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert.deepEqual(certificatePairProblems(garbled, tls.key), [
      "the chain's first certificate does not parse",
    ]);
  });

  it("leaves what a preview does not know yet for the update, a file's content included", () => {
    const previewed = {
      ...inputs,
      executor: unknownValue,
      checkPort: unknownValue,
      path: unknownValue,
      stableForMs: unknownValue,
      files: { ...inputs.files, [siteFile]: unknownValue },
    } as unknown as RouterUpstreamInputs;
    assert.deepEqual(checked(previewed, routerInputProblems(previewed)).failures, []);
  });

  it("watches through the router as a gate that must pass once and hold for the window", () => {
    assert.deepEqual(verificationSpec(inputs, "http://127.0.0.1:9000/health"), {
      url: "http://127.0.0.1:9000/health",
      expectedVersion: "1.0.0",
      intervalMs: 2000,
      timeoutMs: 5000,
      deadlineMs: 35_000,
      successesNeeded: 1,
      stableForMs: 30_000,
      allowDegraded: false,
      smokeChecks: [{ path: "/", status: 200 }],
    });
  });
});
