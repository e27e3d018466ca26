/**
 * The Pebble harness against the lego image `npm run engine` builds (`goacme/lego:v4.9.1`'s
 * layout, run on the host's network as a container of the product would reach a CA): lego
 * trusts Pebble's endpoint through LEGO_CA_CERTIFICATES, answers HTTP-01 on the port Pebble
 * validates against, and gets a certificate that chains to Pebble's root with the validity the
 * harness asked for; a name the harness refuses fails with the CA's reason.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Pebble, startPebble } from "../support/pebble";
import { freePort, run, type RunResult } from "../support/process";
import { pinnedImage, testPrefix } from "./support/engine";

const prefix = testPrefix("pebble");
const validitySeconds = 90;

/** Every certificate of a PEM bundle, in order. */
function certificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

describe("the Pebble harness issues and refuses certificates for the lego image", function () {
  this.timeout(60_000);
  let pebble: Pebble | undefined;
  let dir: string;
  let httpPort: number;
  const containers: string[] = [];

  /** `lego <args> run` in a container of its own, on the host's network, as the test's user. */
  async function lego(name: string, domain: string): Promise<RunResult> {
    assert.ok(pebble);
    const container = `${prefix}-${name}`;
    containers.push(container);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    return run(
      "docker",
      [
        "run",
        "--rm",
        "--name",
        container,
        "--network",
        "host",
        "--user",
        `${uid}:${gid}`,
        "--volume",
        `${dir}:/work`,
        "--env",
        "LEGO_CA_CERTIFICATES=/work/pebble-endpoint-ca.pem",
        pinnedImage("lego"),
        "--server",
        pebble.directoryUrl,
        "--accept-tos",
        "--email",
        "ops@switchyard.test",
        "--domains",
        domain,
        "--path",
        "/work/lego",
        "--http",
        "--http.port",
        `127.0.0.1:${httpPort}`,
        "run",
      ],
      { timeoutMs: 45_000 },
    );
  }

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ validationHttpPort: httpPort, validitySeconds });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    fs.writeFileSync(path.join(dir, "pebble-endpoint-ca.pem"), pebble.endpointRootPem, { mode: 0o600 });
  });

  after(async () => {
    // Only the containers this file named; `--rm` has removed them unless a run timed out.
    for (const container of containers) await run("docker", ["rm", "--force", container]);
    await pebble?.stop();
    await pebble?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("obtains a certificate for a name over HTTP-01 that chains to Pebble's root, valid as long as asked", async () => {
    assert.ok(pebble);
    const result = await lego("obtain", "app.switchyard.test");
    assert.equal(result.code, 0, `${result.output}\n${pebble.output}`);

    const certificatesDir = path.join(dir, "lego/certificates");
    const [leaf, intermediate, ...rest] = certificates(
      fs.readFileSync(path.join(certificatesDir, "app.switchyard.test.crt"), "utf8"),
    );
    assert.equal(rest.length, 0, "the bundle is the certificate and its intermediate");
    assert.equal(leaf.subjectAltName, "DNS:app.switchyard.test");
    const [root] = certificates(await pebble.issuerRootsPem());
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey));
    assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
    assert.ok(root.verify(root.publicKey), "the root is self-signed");
    // NotAfter is NotBefore plus the validity less one second.
    const seconds = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
    assert.equal(seconds, validitySeconds - 1);

    // lego keeps keys to its user: the directories 0700, the files 0600.
    assert.equal(fs.statSync(certificatesDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(certificatesDir, "app.switchyard.test.key")).mode & 0o777, 0o600);
  });

  it("refuses a name it is told to, and lego says why", async () => {
    assert.ok(pebble);
    await pebble.refuse("refused.switchyard.test");
    const result = await lego("refused", "refused.switchyard.test");
    assert.notEqual(result.code, 0, result.output);
    assert.match(
      result.output,
      /\[refused\.switchyard\.test\] acme: error: 400 :: .*urn:ietf:params:acme:error:connection/,
    );
    assert.match(
      result.output,
      /could not resolve URL "http:\/\/refused\.switchyard\.test:\d+\/\.well-known\/acme-challenge\//,
    );
    assert.ok(!fs.existsSync(path.join(dir, "lego/certificates/refused.switchyard.test.crt")));
  });
});
