/**
 * A real Caddy (the one `npm run engine` builds, as the `caddy` image runs it) in a throwaway
 * directory, started as the router container starts it: with the boot configuration, its admin
 * endpoint on a unix socket, and the router's state directory beside it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderCaddyBoot, renderCaddyFiles } from "../../components/providers/caddyConfig";
import type { RouterUpstreamInputs } from "../../components/providers/RouterUpstream";
import type { CaddyServer } from "../../components/providers/routerServer";
import type { RouterSite } from "../../components/providers/routerState";
import { type RouterChoice, testRouterInputs, testSite } from "./nginx";
import { Background, delay, freePort, run, type RunResult } from "./process";

export const caddyBinary = path.resolve(__dirname, "../../.engine/bin/caddy");

/** A real Caddy on free loopback ports. */
export class TestCaddyRouter {
  private constructor(
    readonly dir: string,
    readonly server: CaddyServer,
    readonly listen: RouterSite["listen"],
    readonly process: Background,
  ) {}

  static async start(): Promise<TestCaddyRouter> {
    if (!fs.existsSync(caddyBinary))
      throw new Error(`${caddyBinary} is missing: \`npm run engine\` builds it`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-caddy-"));
    fs.mkdirSync(path.join(dir, "state"));
    const server: CaddyServer = {
      kind: "caddy",
      command: [caddyBinary],
      bootConfig: path.join(dir, "boot.json"),
      adminAddress: `unix/${path.join(dir, "admin.sock")}`,
    };
    fs.writeFileSync(server.bootConfig, renderCaddyBoot(server.adminAddress));
    const listen = {
      address: "127.0.0.1",
      http: await freePort(),
      https: await freePort(),
      check: await freePort(),
    };
    // Its own config and data directories, as the image's XDG variables give it.
    const env = {
      ...process.env,
      XDG_CONFIG_HOME: path.join(dir, "config"),
      XDG_DATA_HOME: path.join(dir, "data"),
    };
    const caddy = new Background(caddyBinary, ["run", "--config", server.bootConfig], { env });
    const router = new TestCaddyRouter(dir, server, listen, caddy);
    const socket = path.join(dir, "admin.sock");
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(socket)) {
      if (!caddy.running) throw new Error(`caddy exited:\n${caddy.output}`);
      if (Date.now() > deadline) throw new Error(`caddy did not open its admin socket:\n${caddy.output}`);
      await delay(20);
    }
    return router;
  }

  get stateDir(): string {
    return path.join(this.dir, "state");
  }

  get url(): string {
    return `http://127.0.0.1:${this.listen.http}`;
  }

  /** How many configurations Caddy has loaded through its admin endpoint: a switch must add none. */
  get loads(): number {
    return this.process.output.split("\n").filter((line) => line.includes('"msg":"load complete"')).length;
  }

  /** RouterUpstream inputs that apply `choice` to this router, through the local executor. */
  inputs(choice: RouterChoice): RouterUpstreamInputs {
    const site = testSite(choice, this.listen, this.stateDir);
    return testRouterInputs(choice, {
      server: this.server,
      site,
      files: renderCaddyFiles(site, this.server.adminAddress),
    });
  }

  /** `caddy validate` of a site generation's configuration file. */
  validate(file: string): Promise<RunResult> {
    return run(caddyBinary, ["validate", "--config", file]);
  }

  async stop(): Promise<void> {
    await this.process.stop("SIGTERM", 5000);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
