/**
 * The router session: everything an update, a read or a delete of RouterUpstream does to the
 * router, as commands through the executor and the `exec` prefix (`docker exec -i router ...`),
 * and the one HTTP question it asks the router's check listener (which generation is loaded).
 * The server's own commands (nginx's or Caddy's) come from routerServer.ts.
 */
import { acmeCommands } from "./acmeClient";
import { caddyAcmeCommands, caddyAcmeFailure } from "./caddyConfig";
import { certificateExpiry } from "./certificatePair";
import { type Executor, runChecked } from "./executor";
import { httpGet } from "./healthGate";
import { providerError } from "./inputs";
import {
  forGeneration,
  generationProbePath,
  routerCommands,
  routerLayout,
  type Traffic,
} from "./routerState";
import { firstPollDelayMs, pollUntil } from "./poll";
import type { RouterUpstreamInputs } from "./routerInputs";
import { type ServerCommands, serverCommands } from "./routerServer";

type Acme = NonNullable<RouterUpstreamInputs["acme"]>;

/** What is live on the router: the targets of its three links. */
export interface Live {
  /** `routes/<name>`, or undefined without a pointer. */
  route: string | undefined;
  /** `sites/<id>`, or undefined before the first site. */
  site: string | undefined;
  /** `certificates/<id>`, or undefined without TLS. */
  certificate: string | undefined;
  /** Whether the maintenance page is up. */
  maintenance: boolean;
}

const commandTimeoutMs = 60_000;
/** How long the CA may take to validate and issue: lego gives up on an authorization after about a minute. */
const acmeTimeoutMs = 180_000;
/** How long the server may take to load a new generation after its reload command returned. */
const reloadTimeoutMs = 15_000;

/** The router as one update sees it: commands through the executor and prefix, and its check listener. */
export class RouterSession {
  private readonly server: ServerCommands;

  constructor(
    private readonly executor: Executor,
    private readonly inputs: Pick<RouterUpstreamInputs, "exec" | "server" | "stateDir">,
    private readonly checkUrl: string,
  ) {
    this.server = serverCommands(inputs.server, inputs.stateDir);
  }

  run(argv: string[], stdin?: string) {
    return runChecked(this.executor, [...this.inputs.exec, ...argv], { stdin, timeoutMs: commandTimeoutMs });
  }

  /** What tests a generation, in words: `nginx -t`, `caddy validate`. */
  get test(): string {
    return this.server.testName;
  }

  /** Error names start with the server's: `NginxRefused`, `CaddyReloadFailed`. */
  private get errorPrefix(): string {
    return this.server.name.charAt(0).toUpperCase() + this.server.name.slice(1);
  }

  private serve(argv: string[]) {
    return this.executor.run([...this.inputs.exec, ...argv], { timeoutMs: commandTimeoutMs });
  }

  /** Whether anything answers where the router runs: `docker exec` fails when its container is gone or stopped. */
  async present(): Promise<boolean> {
    return (
      (await this.executor.run([...this.inputs.exec, "true"], { timeoutMs: commandTimeoutMs })).exitCode === 0
    );
  }

  async live(): Promise<Live> {
    const { stdout } = await this.run(routerCommands.readPointers(this.inputs.stateDir));
    const value = (key: string) => {
      const line = stdout.split("\n").find((each) => each.startsWith(`${key}=`));
      const target = line?.slice(key.length + 1).trim();
      return target ? target : undefined;
    };
    return {
      route: value("live"),
      site: value("current"),
      certificate: value("certificate"),
      maintenance: value("maintenance") === "on",
    };
  }

  /** Writes a generation, has the server test it whole; on refusal removes it and fails with the server's words. */
  async stage(id: string, files: Record<string, string>): Promise<void> {
    const dir = `${routerLayout(this.inputs.stateDir).sites}/${id}`;
    for (const [name, content] of Object.entries(files)) {
      await this.run(routerCommands.writeFile(`${dir}/${name}`, "022"), forGeneration(content, dir));
    }
    const test = await this.serve(this.server.test(dir));
    if (test.exitCode !== 0) {
      await this.run(["rm", "-rf", dir]);
      throw providerError(
        `${this.errorPrefix}Refused`,
        `${this.server.name} refused the new router configuration; the live one is untouched and still serving:\n` +
          (test.stderr.trim() || test.stdout.trim()),
      );
    }
  }

  /** Makes `site` (`sites/<id>`, or none) the live generation and waits until the server serves it. */
  async goLive(site: string | undefined): Promise<void> {
    await this.run(routerCommands.pointLink(this.inputs.stateDir, "current", site));
    const reload = await this.serve(this.server.reload(site));
    if (reload.exitCode !== 0) {
      throw providerError(
        `${this.errorPrefix}ReloadFailed`,
        `${this.server.name}'s reload failed:\n${reload.stderr.trim() || reload.stdout.trim()}`,
      );
    }
    if (site === undefined) return;
    const expected = `${this.inputs.stateDir}/${site}`;
    const url = new URL(generationProbePath, this.checkUrl).toString();
    const probe = async () => {
      const answer = await httpGet(url, undefined, 2000).catch(() => undefined);
      if (answer?.statusCode === 200 && answer.body === expected) return { state: "loaded" };
      return { state: answer ? `HTTP ${answer.statusCode} ${answer.body.slice(0, 100)}` : "no answer" };
    };
    // Every 50 ms: the loop's first wait, and its longest.
    await pollUntil({ intervalMs: firstPollDelayMs }, probe, ({ attempt, startedAt, now }) => {
      if (attempt.state === "loaded") return { done: undefined };
      if (now - startedAt > reloadTimeoutMs) {
        throw providerError(
          `${this.errorPrefix}ReloadFailed`,
          `${this.server.name} did not load ${expected} within ${reloadTimeoutMs} ms after the reload ` +
            `(its check listener gave: ${attempt.state}); see the router's log`,
        );
      }
      return { waitAtMostMs: Infinity };
    });
  }

  /** Writes a certificate directory beside the live one, for the worker user to read. */
  async stageCertificate(id: string, files: Record<string, string>): Promise<void> {
    const dir = `${routerLayout(this.inputs.stateDir).certificates}/${id}`;
    for (const [name, content] of Object.entries(files)) {
      await this.run(routerCommands.writeWorkerSecret(`${dir}/${name}`, this.server.secretOwner), content);
    }
  }

  /** Makes `certificate` (`certificates/<id>`, or none) the one new handshakes get. */
  pointCertificate(certificate: string | undefined) {
    return this.run(routerCommands.pointLink(this.inputs.stateDir, "certificate", certificate));
  }

  /**
   * Has the ACME client obtain the certificate for its names unless it has it, and make it live;
   * fails with the client's words, where the CA's reason is, when the CA refuses. nginx's client
   * is a container beside it, run to the end; Caddy is its own, watched until it has them all.
   */
  async ensureAcmeCertificate(acme: Acme): Promise<void> {
    const refused = (words: string) =>
      providerError(
        "AcmeCertificateRefused",
        `no certificate for ${acme.names.join(", ")} from ${acme.directory}; traffic has not moved:\n${words}`,
      );
    switch (this.inputs.server.kind) {
      case "nginx": {
        const user = this.server.secretOwner;
        const owner =
          user === undefined ? "" : (await this.run(acmeCommands.numericOwner(user))).stdout.trim();
        const result = await this.executor.run([...acme.exec, ...acmeCommands.ensure(owner)], {
          timeoutMs: acmeTimeoutMs,
        });
        if (result.exitCode !== 0) throw refused(result.stderr.trim() || result.stdout.trim());
        return;
      }
      case "caddy": {
        const since = Math.floor(Date.now() / 1000) - 1;
        const { stateDir } = this.inputs;
        await pollUntil(
          { intervalMs: 1000, firstDelayMs: 1000 },
          async () => {
            const obtained = (await this.run(caddyAcmeCommands.obtained(stateDir, acme.names))).stdout;
            const log = (await this.run(caddyAcmeCommands.log(stateDir))).stdout;
            const failure = caddyAcmeFailure(log, acme.names, since);
            return { state: `${obtained}|${failure ?? ""}`, obtained: obtained.split("\n"), failure };
          },
          ({ attempt, startedAt, now }) => {
            if (acme.names.every((name) => attempt.obtained.includes(name))) return { done: undefined };
            if (attempt.failure) throw refused(attempt.failure);
            if (now - startedAt > acmeTimeoutMs)
              throw refused(
                `Caddy had no certificate after ${acmeTimeoutMs / 1000} s and reported no failure`,
              );
            return { waitAtMostMs: Infinity };
          },
        );
        return;
      }
    }
  }

  /** When the live certificate expires, and the ACME client's last renewal failure, if any. */
  async certificateStatus(
    acme: Pick<Acme, "names"> | undefined,
  ): Promise<{ expiresAt?: string; renewalError?: string }> {
    const { stateDir } = this.inputs;
    const read = async (argv: string[]) => (await this.run(argv)).stdout;
    let chain: string;
    let renewalError: string | undefined;
    switch (this.inputs.server.kind) {
      case "nginx":
        chain = await read(routerCommands.readCertificateChain(stateDir));
        renewalError = (await read(acmeCommands.lastError(stateDir))).trim();
        break;
      case "caddy":
        if (acme === undefined) return {};
        chain = await read(caddyAcmeCommands.chain(stateDir, acme.names[0]));
        renewalError = caddyAcmeFailure(await read(caddyAcmeCommands.log(stateDir)), acme.names);
        break;
    }
    const expiresAt = certificateExpiry(chain);
    return {
      ...(expiresAt ? { expiresAt } : {}),
      ...(renewalError ? { renewalError } : {}),
    };
  }

  /** Puts `page` up (every public request gets it, with a 503), or takes the page down. */
  maintenance(page: string | undefined) {
    return page === undefined
      ? this.run(routerCommands.clearMaintenance(this.inputs.stateDir))
      : this.run(routerCommands.setMaintenance(this.inputs.stateDir), page);
  }

  point(traffic: Traffic) {
    return this.run(routerCommands.pointTraffic(this.inputs.stateDir, traffic, this.server.buckets));
  }

  restoreRoute(route: string | undefined) {
    return this.run(routerCommands.pointLink(this.inputs.stateDir, "live", route));
  }

  /** Removes the site generations or certificates but the live one (`id`). */
  prune(kind: "sites" | "certificates", id: string | undefined) {
    return this.run(routerCommands.prune(this.inputs.stateDir, kind, id));
  }

  /** Removes the state directory's contents: pointer, routes, generations and certificates. */
  removeState() {
    return this.run(routerCommands.removeState(this.inputs.stateDir));
  }
}
