/**
 * A real nginx (Debian's) in a throwaway prefix, configured by the project's own renderers.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type NginxPaths, renderNginxMain } from "../../components/providers/nginxConfig";
import { Background, delay, type RunResult, run } from "./process";

export const nginxBinary = "/usr/sbin/nginx";

export interface NginxPrefix {
  dir: string;
  paths: NginxPaths;
  /** The nginx command prefix for this instance: `nginx -p <dir> -c <dir>/nginx.conf`. */
  command: string[];
  sitePath: string;
}

/** A prefix directory holding a main config rendered by `renderNginxMain`. */
export function makeNginxPrefix(): NginxPrefix {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-nginx-"));
  const paths: NginxPaths = {
    siteDir: path.join(dir, "site"),
    pidFile: path.join(dir, "nginx.pid"),
    errorLog: path.join(dir, "error.log"),
    accessLog: path.join(dir, "access.log"),
  };
  fs.mkdirSync(paths.siteDir);
  const config = path.join(dir, "nginx.conf");
  fs.writeFileSync(config, renderNginxMain(paths));
  return {
    dir,
    paths,
    command: [nginxBinary, "-p", dir, "-c", config],
    sitePath: path.join(paths.siteDir, "site.conf"),
  };
}

/** `nginx -t` over the prefix's whole configuration. */
export function testConfig(prefix: NginxPrefix): Promise<RunResult> {
  return run(prefix.command[0], [...prefix.command.slice(1), "-t"]);
}

/** A self-signed certificate and key, for rendering the TLS server. */
export async function selfSignedCertificate(
  dir: string,
): Promise<{ certificatePath: string; keyPath: string }> {
  const certificatePath = path.join(dir, "fullchain.pem");
  const keyPath = path.join(dir, "privkey.pem");
  const result = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-keyout",
    keyPath,
    "-out",
    certificatePath,
  ]);
  if (result.code !== 0) throw new Error(`openssl failed: ${result.output}`);
  return { certificatePath, keyPath };
}

/** Runs nginx in the foreground on the prefix; `stop()` ends it and removes the prefix. */
export class NginxServer {
  private readonly process: Background;

  constructor(readonly prefix: NginxPrefix) {
    this.process = new Background(prefix.command[0], [...prefix.command.slice(1), "-g", "daemon off;"]);
  }

  get output(): string {
    return this.process.output;
  }

  /** Waits until the master has written its pid file, i.e. it is listening. */
  async started(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!fs.existsSync(this.prefix.paths.pidFile)) {
      if (!this.process.running) throw new Error(`nginx exited:\n${this.process.output}`);
      if (Date.now() > deadline) throw new Error("nginx did not start");
      await delay(20);
    }
  }

  async stop(): Promise<void> {
    await this.process.stop("SIGQUIT", 3000);
    fs.rmSync(this.prefix.dir, { recursive: true, force: true });
  }
}
