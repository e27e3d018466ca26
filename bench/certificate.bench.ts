/**
 * Certificate rotation through real nginx, in one run:
 *
 * - reload: the certificate at a fixed path, rotated the usual way: new files, `nginx -s reload`;
 * - switchyard: the RouterUpstream provider's update, a new certificate directory and one rename
 *   of the link nginx reads it through on every handshake.
 *
 * Each rotates `rotations` times under HTTPS keep-alive load (a request the client sent and got
 * no answer for is lost), and each answers `handshakes` new TLS handshakes, taken in turns so
 * drift on a shared machine hits both alike: the price of reading the certificate per handshake.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import * as tls from "node:tls";
import { renderTlsFiles, routerLayout } from "../components/providers/routerState";
import { HttpsLoad } from "../test/support/https";
import {
  type AppliedRouter,
  createRouter,
  type RouterChoice,
  selfSignedCertificate,
  TestRouter,
  updateRouter,
} from "../test/support/nginx";
import { run } from "../test/support/process";
import { type BenchReport, median, percentile, round } from "./report";
import { startSlots } from "./switch.bench";

const rotations = 20;
const rotateEveryMs = 450;
const handshakes = 400;
const connections = 16;

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

async function rotateUnderLoad(
  phase: Phase,
  url: string,
  rotate: (certificate: { certificate: string; key: string }) => Promise<void>,
): Promise<void> {
  const certificates = [];
  for (let i = 0; i < rotations; i++) certificates.push(await selfSignedCertificate());
  const load = new HttpsLoad(url, connections);
  try {
    for (const certificate of certificates) {
      const started = performance.now();
      await rotate(certificate);
      phase.rotateCallsMs.push(performance.now() - started);
      const rest = rotateEveryMs - (performance.now() - started);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
  } finally {
    await load.stop();
  }
  phase.answered += load.answered;
  phase.lost += load.failures.length;
}

export default async function certificateRotation(): Promise<BenchReport> {
  const slots = await startSlots();
  const routers: TestRouter[] = [];
  try {
    const choice = (certificate: { certificate: string; key: string }): RouterChoice => ({
      upstreams: slots.upstreams,
      activeSlot: "blue",
      canaryWeight: 0,
      expectedVersion: "1.0.0",
      stableForMs: 200,
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

    const phases: Record<string, Phase> = {
      reload: { name: "reload", answered: 0, lost: 0, rotateCallsMs: [], handshakesMs: [] },
      switchyard: { name: "switchyard", answered: 0, lost: 0, rotateCallsMs: [], handshakesMs: [] },
    };
    for (let i = 0; i < handshakes; i++) {
      phases.reload.handshakesMs.push(await handshakeMs(reload.listen.https));
      phases.switchyard.handshakesMs.push(await handshakeMs(switchyard.listen.https));
    }
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
    return report(Object.values(phases));
  } finally {
    for (const router of routers) await router.stop();
    await slots.stop();
  }
}

function report(phases: Phase[]): BenchReport {
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
  const [reload, switchyard] = phases;
  figures.handshakeP99Ratio = round(
    percentile(switchyard.handshakesMs, 99) / percentile(reload.handshakesMs, 99),
    3,
  );
  figures.handshakeP50Ratio = round(median(switchyard.handshakesMs) / median(reload.handshakesMs), 3);
  return {
    name: "certificate",
    table,
    figures,
    notes: [
      `${rotations} rotations each, one every ${rotateEveryMs} ms, under ${connections} HTTPS keep-alive connections; lost: requests sent that got no answer`,
      `${handshakes} full handshakes each (no session resumption), in turns; switchyard reads the certificate per handshake, reload's is loaded once`,
      `handshake p50 ratio ${figures.handshakeP50Ratio}, p99 ratio ${figures.handshakeP99Ratio} (switchyard / fixed path)`,
    ],
  };
}
