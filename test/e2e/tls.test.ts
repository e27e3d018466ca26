/**
 * Certificates through the real engine: the dev stack serving HTTPS with pasted PEM secrets, the
 * key kept in the router's state for nginx's workers only, and a new certificate put in place by
 * `pulumi up` under HTTPS keep-alive load without a reload or a lost request.
 */
import assert from "node:assert/strict";
import { containerNginxMain } from "../../components/providers/nginxConfig";
import { routerLayout } from "../../components/providers/routerState";
import { HttpsLoad, peerCertificate } from "../support/https";
import { selfSignedCertificate } from "../support/nginx";
import { newDevStack, type TestStack } from "./support/engine";
import { assertRotatedWithoutLoss, inRouter, routerWorkers } from "./support/routerTls";

const httpsPort = 8443;
const site = `https://127.0.0.1:${httpsPort}/`;
const { certificate: certificateLink } = routerLayout(containerNginxMain.stateDir);

describe("certificates through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  before(async () => {
    stack = await newDevStack();
    await stack.pulumiChecked(["config", "set", "--path", "router.httpsPort", String(httpsPort)]);
  });

  after(() => stack?.teardown());

  it("serves HTTPS with the pasted certificate, its key readable by nginx's workers alone", async () => {
    const tls = await selfSignedCertificate();
    await stack.setSecrets({ tlsCertificate: tls.certificate, tlsKey: tls.key });
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    assert.equal((await peerCertificate(site)).trim(), tls.certificate.trim());
    assert.equal(
      await inRouter(`stat -c '%U %a' ${certificateLink}/ ${certificateLink}/privkey.pem`),
      `${containerNginxMain.user} 700\n${containerNginxMain.user} 600`,
    );
  });

  it("rotates it with `pulumi up` under HTTPS keep-alive load: no reload, no request lost", async () => {
    const before = await routerWorkers();
    assert.notEqual(before, "");
    const load = new HttpsLoad(site, 8);
    const rotations = 3;
    try {
      for (let rotation = 0; rotation < rotations; rotation++) {
        const tls = await selfSignedCertificate();
        await stack.setSecrets({ tlsCertificate: tls.certificate, tlsKey: tls.key });
        assert.deepEqual(await stack.plannedChanges(), ["update router-upstream"]);
        await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
        assert.equal((await peerCertificate(site)).trim(), tls.certificate.trim(), `rotation ${rotation}`);
      }
    } finally {
      await load.stop();
    }
    await assertRotatedWithoutLoss(load, before);
    await stack.pulumiChecked(["preview", "--expect-no-changes"]);
  });
});
