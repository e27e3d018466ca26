/**
 * Certificate rotation through real nginx, in one run:
 *
 * - reload: the certificate at a fixed path, rotated the usual way: new files, `nginx -s reload`;
 * - switchyard: the RouterUpstream provider's update, a new certificate directory and one rename
 *   of the link nginx reads it through on every handshake;
 * - acme: the ACME client beside the router (acmeClient.ts's script in the lego image) renewing
 *   from Pebble on loopback by itself, each check due: the same link, renamed by the client.
 *
 * Each rotates `rotations` times under HTTPS keep-alive load (a request the client sent and got
 * no answer for is lost), and each answers `handshakes` new TLS handshakes, taken in turns so
 * drift on a shared machine hits all alike: the price of reading the certificate per handshake.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import * as tls from "node:tls";
import {
  acmeClientEnvironment,
  acmeClientFiles,
  acmeClientScript,
  type AcmeSettings,
} from "../components/providers/acmeClient";
import { renderTlsFiles, routerLayout } from "../components/providers/routerState";
import { pinnedImage, testPrefix } from "../test/e2e/support/engine";
import { HttpsLoad } from "../test/support/https";
import {
  type AppliedRouter,
  createRouter,
  type RouterChoice,
  selfSignedCertificate,
  TestRouter,
  updateRouter,
} from "../test/support/nginx";
import { type Pebble, startPebble } from "../test/support/pebble";
import { delay, run, runChecked } from "../test/support/process";
import { type BenchReport, median, percentile, round } from "./report";
import { startSlots } from "./switch.bench";

const rotations = 20;
const rotateEveryMs = 450;
const handshakes = 400;
const connections = 16;
/** Pebble's certificates are valid an hour: fewer than 30 days left, so each check of the client renews. */
const acmeValiditySeconds = 3600;
const acmeCheckSeconds = 1;
const acmeHost = "bench.switchyard.test";
/** Longer than one renewal could take: lego retries a failure after a second here, and says so in its log. */
const acmeRotationTimeoutMs = 60_000;

/** One full TLS handshake (no session to resume), in ms. */
function handshakeMs(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = tls.connect(
      { host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false },
      () => {
        const took = performance.now() - started;
        socket.destroy();
        resolve(took);
      },
    );
    socket.on("error", reject);
  });
}

interface Phase {
  name: string;
  answered: number;
  lost: number;
  rotateCallsMs: number[];
  handshakesMs: number[];
}

/** Runs `rotate` under HTTPS keep-alive load on `url`, and counts what the load saw into `phase`. */
async function underLoad(phase: Phase, url: string, rotate: () => Promise<void>): Promise<void> {
  const load = new HttpsLoad(url, connections);
  try {
    await rotate();
  } finally {
    await load.stop();
  }
  phase.answered += load.answered;
  phase.lost += load.failures.length;
}

async function rotateUnderLoad(
  phase: Phase,
  url: string,
  rotate: (certificate: { certificate: string; key: string }) => Promise<void>,
): Promise<void> {
  const certificates: { certificate: string; key: string }[] = [];
  for (let i = 0; i < rotations; i++) certificates.push(await selfSignedCertificate());
  await underLoad(phase, url, async () => {
    for (const certificate of certificates) {
      const started = performance.now();
      await rotate(certificate);
      phase.rotateCallsMs.push(performance.now() - started);
      const rest = rotateEveryMs - (performance.now() - started);
      if (rest > 0) await delay(rest);
    }
  });
}

/**
 * The ACME client as Router.ts runs it beside the router, on the host's network: the lego image
 * with the script, the router's state directory at the same path, Pebble's endpoint CA, and
 * acmeClientEnvironment's variables, but a check every second. The bench's user runs it, so the
 * bench can remove whatever it writes. `ensure` is a one-off container of the same shape (the
 * RouterUpstream `acme.exec` prefix); the client's own container, whose command is `renew-loop`,
 * starts only when its phase does: it renews from its first check on, and must not while the
 * other phases run.
 */
function acmeClient(router: TestRouter, pebble: Pebble) {
  const name = testPrefix("bench-acme");
  const { stateDir } = router.prefix.main;
  const dir = path.join(router.prefix.dir, "acme-client");
  fs.mkdirSync(dir);
  const script = path.join(dir, "acme.sh");
  const directoryCertificate = path.join(dir, "directory-ca.pem");
  fs.writeFileSync(script, acmeClientScript);
  fs.writeFileSync(directoryCertificate, pebble.endpointRootPem);
  const settings: AcmeSettings = {
    email: "ops@switchyard.test",
    directory: pebble.directoryUrl,
    names: [acmeHost],
    directoryCertificate: pebble.endpointRootPem,
    checkIntervalSeconds: acmeCheckSeconds,
  };
  const container = [
    "--network",
    "host",
    "--user",
    `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
    "--volume",
    `${stateDir}:${stateDir}`,
    "--volume",
    `${script}:${acmeClientFiles.script}:ro`,
    "--volume",
    `${directoryCertificate}:${acmeClientFiles.directoryCertificate}:ro`,
    ...acmeClientEnvironment(settings, stateDir).flatMap((variable) => ["--env", variable]),
  ];
  return {
    name,
    /** The site's account and RouterUpstream's `acme.exec`: `ensure` runs in a container of its own. */
    acme: {
      exec: [
        "docker",
        "run",
        "--rm",
        "-i",
        "--name",
        `${name}-ensure`,
        ...container,
        "--entrypoint",
        "",
        pinnedImage("lego"),
      ],
      email: settings.email,
      directory: settings.directory,
      names: settings.names,
      checkIntervalSeconds: settings.checkIntervalSeconds,
      directoryCertificateFile: acmeClientFiles.directoryCertificate,
    },
    async start(): Promise<void> {
      await runChecked("docker", [
        "run",
        "--detach",
        "--name",
        name,
        ...container,
        "--entrypoint",
        "/bin/sh",
        pinnedImage("lego"),
        acmeClientFiles.script,
        "renew-loop",
      ]);
    },
    async log(): Promise<string> {
      return (await run("docker", ["logs", name])).output;
    },
    async remove(): Promise<void> {
      for (const container of [name, `${name}-ensure`]) await run("docker", ["rm", "--force", container]);
    },
  };
}

/** Waits until `link` points elsewhere than `previous`; returns where. */
async function linkMoved(link: string, previous: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const target = fs.readlinkSync(link);
    if (target !== previous) return target;
    if (Date.now() > deadline) return undefined;
    await delay(10);
  }
}

export default async function certificateRotation(): Promise<BenchReport> {
  const slots = await startSlots();
  const routers: TestRouter[] = [];
  let pebble: Pebble | undefined;
  let client: ReturnType<typeof acmeClient> | undefined;
  try {
    const traffic: RouterChoice = {
      upstreams: slots.upstreams,
      activeSlot: "blue",
      canaryWeight: 0,
      expectedVersion: "1.0.0",
      stableForMs: 200,
    };
    const choice = (certificate: { certificate: string; key: string }): RouterChoice => ({
      ...traffic,
      tls: certificate,
    });

    const switchyard = await TestRouter.start();
    routers.push(switchyard);
    let applied: AppliedRouter = await createRouter(switchyard.inputs(choice(await selfSignedCertificate())));

    // The same site, but reading the certificate from a fixed path: nginx loads it at (re)load only.
    const reload = await TestRouter.start();
    routers.push(reload);
    await createRouter(reload.inputs(choice(await selfSignedCertificate())));
    const fixedDir = path.join(reload.prefix.dir, "fixed-certificate");
    const writeFixed = (certificate: { certificate: string; key: string }) => {
      fs.mkdirSync(fixedDir, { recursive: true });
      for (const [name, content] of Object.entries(renderTlsFiles(certificate)))
        fs.writeFileSync(path.join(fixedDir, name), content, { mode: 0o644 });
    };
    writeFixed(await selfSignedCertificate());
    const site = path.join(routerLayout(reload.prefix.main.stateDir).current, "site.conf");
    fs.writeFileSync(
      site,
      fs.readFileSync(site, "utf8").replaceAll("$switchyard_certificate/", `${fixedDir}/`),
    );
    const nginxReload = async () => {
      const result = await run(reload.prefix.command[0], [
        ...reload.prefix.command.slice(1),
        "-c",
        reload.prefix.mainConfig,
        "-s",
        "reload",
      ]);
      if (result.code !== 0) throw new Error(`nginx -s reload failed: ${result.output}`);
    };
    await nginxReload();

    // The ACME client's router: its first certificate from Pebble, which validates on its HTTP port.
    const acme = await TestRouter.start();
    routers.push(acme);
    pebble = await startPebble({
      validationHttpPort: acme.listen.http,
      validitySeconds: acmeValiditySeconds,
    });
    client = acmeClient(acme, pebble);
    await createRouter(acme.inputs({ ...traffic, serverName: acmeHost, acme: client.acme }));
    const certificateLink = routerLayout(acme.prefix.main.stateDir).certificate;

    const phases: Record<string, Phase> = {
      reload: { name: "reload", answered: 0, lost: 0, rotateCallsMs: [], handshakesMs: [] },
      switchyard: { name: "switchyard", answered: 0, lost: 0, rotateCallsMs: [], handshakesMs: [] },
      acme: { name: "acme", answered: 0, lost: 0, rotateCallsMs: [], handshakesMs: [] },
    };
    const servedBy: [Phase, TestRouter][] = [
      [phases.reload, reload],
      [phases.switchyard, switchyard],
      [phases.acme, acme],
    ];
    for (let i = 0; i < handshakes; i++)
      for (const [phase, router] of servedBy) phase.handshakesMs.push(await handshakeMs(router.listen.https));
    await rotateUnderLoad(phases.reload, `https://127.0.0.1:${reload.listen.https}/`, async (certificate) => {
      writeFixed(certificate);
      await nginxReload();
    });
    await rotateUnderLoad(
      phases.switchyard,
      `https://127.0.0.1:${switchyard.listen.https}/`,
      async (certificate) => {
        applied = await updateRouter(applied, switchyard.inputs(choice(certificate)));
      },
    );
    const renewing = client;
    await underLoad(phases.acme, `https://127.0.0.1:${acme.listen.https}/`, async () => {
      let live = fs.readlinkSync(certificateLink);
      let since = performance.now();
      await renewing.start();
      while (phases.acme.rotateCallsMs.length < rotations) {
        const next = await linkMoved(certificateLink, live, acmeRotationTimeoutMs);
        if (next === undefined)
          throw new Error(
            `no renewal within ${acmeRotationTimeoutMs} ms; the client said:\n${await renewing.log()}`,
          );
        phases.acme.rotateCallsMs.push(performance.now() - since);
        since = performance.now();
        live = next;
      }
    });
    const failedRenewals = (await renewing.log()).match(/renewal failed/g)?.length ?? 0;
    return report(Object.values(phases), failedRenewals);
  } finally {
    await client?.remove();
    await pebble?.stop();
    for (const router of routers) await router.stop();
    await slots.stop();
  }
}

function report(phases: Phase[], failedRenewals: number): BenchReport {
  const figures: BenchReport["figures"] = {};
  const table = phases.map((phase) => {
    const row = {
      mechanism: phase.name,
      rotations: phase.rotateCallsMs.length,
      answered: phase.answered,
      lost: phase.lost,
      rotateCallMedianMs: round(median(phase.rotateCallsMs), 1),
      handshakeP50Ms: round(median(phase.handshakesMs), 2),
      handshakeP99Ms: round(percentile(phase.handshakesMs, 99), 2),
    };
    for (const [key, value] of Object.entries(row))
      if (typeof value === "number") figures[`${phase.name}${key[0].toUpperCase()}${key.slice(1)}`] = value;
    return row;
  });
  const [reload, switchyard, acme] = phases;
  /** A handshake percentile of `phase` against reload's. */
  const ratio = (phase: Phase, p: number) =>
    round(percentile(phase.handshakesMs, p) / percentile(reload.handshakesMs, p), 3);
  figures.handshakeP99Ratio = ratio(switchyard, 99);
  figures.handshakeP50Ratio = ratio(switchyard, 50);
  figures.acmeHandshakeP99Ratio = ratio(acme, 99);
  figures.acmeHandshakeP50Ratio = ratio(acme, 50);
  figures.acmeFailedRenewals = failedRenewals;
  return {
    name: "certificate",
    table,
    figures,
    notes: [
      `${rotations} rotations each under ${connections} HTTPS keep-alive connections; lost: requests sent that got no answer`,
      `reload and switchyard rotate one every ${rotateEveryMs} ms; rotateCallMedianMs is the call that rotates`,
      `acme: the real client (lego in its container) renewing from Pebble on loopback by itself, checking every ${acmeCheckSeconds} s, each check due (certificates valid ${acmeValiditySeconds} s); ` +
        `its rotateCallMedianMs is the time between renewals (the pause, then the CA round trip: order, HTTP-01 through this nginx, finalize, install), paced by lego's polling, not comparable to the others' call times; ${failedRenewals} renewals failed`,
      `${handshakes} full handshakes each (no session resumption), in turns; switchyard and acme read the certificate per handshake (acme's chain: Pebble's leaf and intermediate), reload's is loaded once`,
      `handshake p50 ratio ${figures.handshakeP50Ratio}, p99 ratio ${figures.handshakeP99Ratio} (switchyard / fixed path); acme p50 ${figures.acmeHandshakeP50Ratio}, p99 ${figures.acmeHandshakeP99Ratio} (acme / fixed path)`,
    ],
  };
}
