/**
 * A real ACME CA for tests: Pebble, Let's Encrypt's test CA, with pebble-challtestsrv as the only
 * resolver it asks (both as `npm run engine` builds them into `.engine/bin`), on loopback ports of
 * their own in a throwaway directory. Every name resolves to 127.0.0.1 (A only: Pebble dials the
 * first address it gets and asks AAAA first, so an AAAA answer would send it to ::1), so Pebble
 * fetches every HTTP-01 challenge from http://127.0.0.1:<validationHttpPort> and dials TLS-ALPN-01
 * on 127.0.0.1:<validationTlsPort>, whatever the name. challtestsrv's own challenge servers (HTTP-01,
 * HTTPS, TLS-ALPN-01, DNS over HTTPS) are off: the client under test answers the challenges.
 *
 * Deterministic where Pebble is random by default: no sleep before validating, no good nonce
 * rejected, one profile (an order without a profile gets a random one of those configured), and
 * authorizations reused as seldom as Pebble allows (PEBBLE_AUTHZREUSE=0 still reuses a valid one
 * of the same account from the last hour 1% of the time: `rand.Intn(100) > 0`).
 *
 * Pebble serves its directory over HTTPS with a certificate for 127.0.0.1 and localhost made per
 * run by a CA made per run (`endpointRootPem`, what an ACME client must trust: lego takes it as
 * `LEGO_CA_CERTIFICATES`); the certificates it issues chain to roots it makes at start, in memory
 * (`issuerRootsPem`), through an intermediate it sends with each certificate.
 */
import { promises as dns } from "node:dns";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { Background, delay, freePort, httpGet, run } from "./process";

export const pebbleBinary = path.resolve(__dirname, "../../.engine/bin/pebble");
export const challTestSrvBinary = path.resolve(__dirname, "../../.engine/bin/pebble-challtestsrv");

/** The validity Pebble gives a certificate when told none: 90 days, as Let's Encrypt's. */
export const defaultValiditySeconds = 7_776_000;

export interface PebbleOptions {
  /** The port on 127.0.0.1 Pebble fetches every HTTP-01 challenge from (the client's `--http.port`). */
  validationHttpPort: number;
  /** The port on 127.0.0.1 Pebble dials for TLS-ALPN-01; by default a free one nothing listens on. */
  validationTlsPort?: number;
  /**
   * How long every certificate it issues is valid: NotAfter is NotBefore (the moment of issue, not
   * backdated) plus this less one second. Short ones (60–120 s) make a renewal due at once.
   */
  validitySeconds?: number;
}

export interface Pebble {
  /** `https://127.0.0.1:<port>/dir`. */
  readonly directoryUrl: string;
  /** PEM of the CA that signs Pebble's own HTTPS certificate: what an ACME client must trust. */
  readonly endpointRootPem: string;
  /** The validity of every certificate issued, in seconds (see PebbleOptions). */
  readonly validitySeconds: number;
  /** What both processes printed, for failure messages. */
  readonly output: string;
  /**
   * PEM of the root the certificates Pebble issues chain to (management `/roots/0`). The chain
   * runs through an intermediate Pebble sends with each certificate (lego keeps it in the `.crt`
   * bundle and in `.issuer.crt`), so a client trusting this root verifies a server that sends
   * the whole bundle, as it must with a real CA.
   */
  issuerRootsPem(): Promise<string>;
  /**
   * Makes the next validation of `host` fail: the resolver answers SERVFAIL for it, so Pebble
   * finds no address, marks the authorization invalid and refuses the order with an
   * `urn:ietf:params:acme:error:connection` problem naming the URL it could not resolve.
   */
  refuse(host: string): Promise<void>;
  /** Undoes `refuse(host)`: the name resolves to 127.0.0.1 again. */
  allow(host: string): Promise<void>;
  /** Kills both processes and removes the directory; safe to call twice. */
  stop(): Promise<void>;
}

/** A GET over HTTPS trusting only `ca` (with a User-Agent: Pebble refuses a request without one); any status resolves. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { ca, agent: false, timeout: 5000, headers: { "user-agent": "switchyard-tests" } };
    const request = https.get(url, options, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", reject);
  });
}

/** A JSON POST over plain HTTP (challtestsrv's management API); any status resolves. */
function postJson(url: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: "POST", agent: false, timeout: 5000, headers: { "content-type": "application/json" } },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`POST ${url} timed out`)));
    request.on("error", reject);
    request.end(JSON.stringify(body));
  });
}

async function openssl(args: string[]): Promise<void> {
  const result = await run("openssl", args);
  if (result.code !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.output}`);
}

/**
 * A CA and, signed by it, Pebble's certificate for 127.0.0.1 and localhost, in `dir` (0700):
 * `ca.pem`, `cert.pem`, `key.pem` (0600). The CA's key is removed once it has signed.
 */
async function makeEndpointCertificate(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const files = {
    caKey: path.join(dir, "ca-key.pem"),
    ca: path.join(dir, "ca.pem"),
    cert: path.join(dir, "cert.pem"),
    key: path.join(dir, "key.pem"),
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"];
  try {
    await openssl([
      "req",
      "-x509",
      ...ec,
      "-subj",
      "/CN=switchyard test CA for Pebble's endpoint",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
      "-keyout",
      files.caKey,
      "-out",
      files.ca,
    ]);
    await openssl([
      "req",
      "-x509",
      "-CA",
      files.ca,
      "-CAkey",
      files.caKey,
      ...ec,
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "extendedKeyUsage=serverAuth",
      "-keyout",
      files.key,
      "-out",
      files.cert,
    ]);
  } finally {
    fs.rmSync(files.caKey, { force: true });
  }
  return { ca: files.ca, cert: files.cert, key: files.key };
}

/** Polls `probe` until it returns true; fails early when a process exits, and on timeout. */
async function waitUntil(
  what: string,
  processes: Background[],
  probe: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  for (;;) {
    const exited = processes.find((child) => !child.running);
    if (exited) throw new Error(`${what}: ${path.basename(exited.child.spawnfile)} exited`);
    try {
      if (await probe()) return;
      last = "not yet";
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms; last: ${last}`);
    await delay(50);
  }
}

/** The environment without any PEBBLE_* setting of the caller's, so a run is what this file says. */
function pebbleEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PEBBLE_")));
  return { ...env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" };
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const validitySeconds = options.validitySeconds ?? defaultValiditySeconds;
  if (!Number.isInteger(validitySeconds) || validitySeconds < 1)
    throw new Error(`validitySeconds must be a whole number of seconds above 0, not ${validitySeconds}`);
  for (const binary of [pebbleBinary, challTestSrvBinary])
    if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: \`npm run engine\` builds it`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-pebble-"));
  const processes: Background[] = [];
  const output = () =>
    processes.map((child) => `--- ${path.basename(child.child.spawnfile)}\n${child.output}`).join("\n");
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const child of processes) await child.stop("SIGTERM", 3000);
      fs.rmSync(dir, { recursive: true, force: true });
    })());

  try {
    const tls = await makeEndpointCertificate(dir);
    const endpointRootPem = fs.readFileSync(tls.ca, "utf8");
    const ports = {
      dns: await freePort(),
      challTestSrvManagement: await freePort(),
      acme: await freePort(),
      management: await freePort(),
      tlsAlpn: options.validationTlsPort ?? (await freePort()),
    };

    const challTestSrv = new Background(challTestSrvBinary, [
      `-dnsserver=127.0.0.1:${ports.dns}`,
      `-management=127.0.0.1:${ports.challTestSrvManagement}`,
      "-defaultIPv4=127.0.0.1",
      "-defaultIPv6=",
      "-http01=",
      "-https01=",
      "-tlsalpn01=",
      "-doh=",
    ]);
    processes.push(challTestSrv);
    const resolver = new dns.Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${ports.dns}`]);
    await waitUntil("pebble-challtestsrv", processes, async () => {
      // It logs a failed listen and goes on: a port taken in the meantime shows only in its output.
      if (/address already in use/.test(challTestSrv.output)) throw new Error("a port was taken");
      const addresses = await resolver.resolve4("ready.switchyard.test");
      // Any answer will do: the management API is listening.
      await httpGet(`http://127.0.0.1:${ports.challTestSrvManagement}/`, 1000);
      return addresses.join() === "127.0.0.1";
    });

    const config = path.join(dir, "pebble-config.json");
    const pebbleConfig = {
      pebble: {
        listenAddress: `127.0.0.1:${ports.acme}`,
        managementListenAddress: `127.0.0.1:${ports.management}`,
        certificate: tls.cert,
        privateKey: tls.key,
        httpPort: options.validationHttpPort,
        tlsPort: ports.tlsAlpn,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        keyAlgorithm: "ecdsa",
        profiles: { default: { description: "switchyard's tests", validityPeriod: validitySeconds } },
      },
    };
    fs.writeFileSync(config, `${JSON.stringify(pebbleConfig, null, 2)}\n`, { mode: 0o600 });
    const pebble = new Background(pebbleBinary, ["-config", config, "-dnsserver", `127.0.0.1:${ports.dns}`], {
      env: pebbleEnv(),
    });
    processes.push(pebble);
    const directoryUrl = `https://127.0.0.1:${ports.acme}/dir`;
    const managementUrl = `https://127.0.0.1:${ports.management}`;
    await waitUntil("pebble", processes, async () => {
      const directory = await httpsGet(directoryUrl, endpointRootPem);
      const roots = await httpsGet(`${managementUrl}/roots/0`, endpointRootPem);
      return directory.status === 200 && "newOrder" in JSON.parse(directory.body) && roots.status === 200;
    });

    const setServfail = async (endpoint: string, host: string) => {
      const url = `http://127.0.0.1:${ports.challTestSrvManagement}/${endpoint}`;
      const response = await postJson(url, { host });
      if (response.status !== 200)
        throw new Error(`POST ${url} ${host}: HTTP ${response.status} ${response.body}`);
    };
    return {
      directoryUrl,
      endpointRootPem,
      validitySeconds,
      get output() {
        return output();
      },
      async issuerRootsPem() {
        const response = await httpsGet(`${managementUrl}/roots/0`, endpointRootPem);
        if (response.status !== 200) throw new Error(`GET ${managementUrl}/roots/0: HTTP ${response.status}`);
        return response.body;
      },
      refuse: (host) => setServfail("set-servfail", host),
      allow: (host) => setServfail("clear-servfail", host),
      stop,
    };
  } catch (error) {
    const message = `${error instanceof Error ? error.message : String(error)}\n${output()}`;
    await stop();
    throw new Error(`Pebble did not start: ${message}`);
  }
}
