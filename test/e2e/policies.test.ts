/**
 * The policy pack as the README runs it, `pulumi preview --policy-pack policies`, through the real
 * engine on a production-shaped stack that targets the local Docker engine: images by digest
 * from the local registry, TLS, 14 snapshots kept, a 60 s post-switch window. The shipped shape
 * passes; a 30 s window and a retention of 3 block the preview, named by their policies. Before
 * the pack followed the engine's ConfigureStack call, both were mere warnings here.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { selfSignedCertificate } from "../support/nginx";
import { pinnedImage, projectFiles, TestStack } from "./support/engine";

/** The production stack's shape, on this machine's Docker engine; no GitHub or Netlify side. */
function productionLike(overrides: { postSwitchSeconds?: number; retention?: number } = {}): string {
  const app = pinnedImage("demo-app");
  return [
    "config:",
    "  switchyard:environment: production",
    "  switchyard:target:",
    "    host: unix:///var/run/docker.sock",
    "  switchyard:activeSlot: blue",
    "  switchyard:slots:",
    "    blue:",
    `      image: ${app}`,
    "      version: 1.0.0",
    "    green:",
    `      image: ${app}`,
    "      version: 1.1.0",
    "  switchyard:app:",
    "    port: 3000",
    '    user: "1000:1000"',
    "  switchyard:health:",
    `    postSwitchStableForSeconds: ${overrides.postSwitchSeconds ?? 60}`,
    "  switchyard:database:",
    `    image: ${pinnedImage("postgres")}`,
    "  switchyard:redis:",
    `    image: ${pinnedImage("redis")}`,
    "  switchyard:migrations:",
    `    image: ${app}`,
    "    command: [node, migrate.js]",
    '    version: "002"',
    "  switchyard:router:",
    `    image: ${pinnedImage("nginx")}`,
    "    serverName: localhost",
    "  switchyard:snapshots:",
    "    directory: /tmp/switchyard-policy-snapshots",
    `    retention: ${overrides.retention ?? 14}`,
    "",
  ].join("\n");
}

describe("the policy pack through the real engine", function () {
  this.timeout(600_000);
  let stack: TestStack;

  const previewWith = async (stackFile: string) => {
    const file = path.join(stack.programDir, `Pulumi.${stack.stack}.yaml`);
    // The salt `stack init` wrote for this stack's passphrase stays.
    const salt = /^encryptionsalt:.*\n/m.exec(fs.readFileSync(file, "utf8"))?.[0] ?? "";
    fs.writeFileSync(file, salt + stackFile);
    // The secrets live in the stack file too: set them again on the rewritten file.
    const tls = await selfSignedCertificate();
    await stack.setSecrets({
      tlsCertificate: tls.certificate,
      tlsKey: tls.key,
      "appSecrets.JWT_SECRET": "policy-test-jwt-secret",
    });
    return stack.pulumi(["preview", "--policy-pack", "policies"], 600_000);
  };

  before(async () => {
    stack = new TestStack({ project: [...projectFiles, "policies"], stack: "production" });
    await stack.init({});
  });

  after(() => stack?.dispose());

  it("passes the shipped shape: the pack runs, and nothing is mandatory", async () => {
    const preview = await previewWith(productionLike());
    assert.equal(preview.code, 0, preview.output);
    assert.match(preview.output, /switchyard@v0\.1\.0 \(local: policies\)/);
    assert.doesNotMatch(preview.output, /\[mandatory\]/);
  });

  it("blocks a 30 s post-switch window and a retention of 3, naming each policy", async () => {
    // A `latest` image never gets this far: the stack's config refuses it in production first.
    const preview = await previewWith(productionLike({ postSwitchSeconds: 30, retention: 3 }));
    assert.notEqual(preview.code, 0, preview.output);
    assert.match(preview.output, /\[mandatory\]\s+post-switch-window/);
    assert.match(preview.output, /\[mandatory\]\s+snapshot-retention/);
  });
});
