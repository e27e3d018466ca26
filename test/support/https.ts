/** HTTPS as a client sees it: the certificate a new connection gets, and keep-alive load. */
import * as https from "node:https";
import type { TLSSocket } from "node:tls";

/** The certificate a new TLS connection gets, as PEM. */
export function peerCertificate(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false, servername: "localhost", agent: false }, (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate();
        res.resume();
        res.on("end", () => resolve(peer?.toString() ?? ""));
      })
      .on("error", reject);
  });
}

/** GETs over `connections` HTTPS keep-alive connections, one after another on each, until stopped. */
export class HttpsLoad {
  answered = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly agent: https.Agent;
  private readonly done: Promise<void[]>;

  /** `servername`: the name each connection's TLS handshake asks for (a router that picks a certificate by it). */
  constructor(url: string, connections: number, servername = "localhost") {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: connections, rejectUnauthorized: false });
    const once = () =>
      new Promise<void>((resolve) => {
        https
          .get(url, { agent: this.agent, servername }, (res) => {
            res.resume();
            res.on("end", () => {
              if (res.statusCode === 200) this.answered++;
              else this.failures.push(`HTTP ${res.statusCode}`);
              resolve();
            });
          })
          .on("error", (error) => {
            this.failures.push(error.message);
            resolve();
          });
      });
    this.done = Promise.all(
      Array.from({ length: connections }, async () => {
        while (this.running) await once();
      }),
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.agent.destroy();
  }
}
