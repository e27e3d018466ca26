/** Slot stand-ins for router tests: tiny HTTP servers that speak the health contract. */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { SlotColour } from "../../infra/config";

export const versions: Record<SlotColour, string> = { blue: "1.0.0", green: "2.0.0" };

/** A slot stand-in that speaks the health contract and names itself on every response. */
export function backend(colour: SlotColour): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.setHeader("X-Slot", colour);
    res.setHeader("Content-Type", "application/json");
    const body = req.url === "/health" ? { status: "healthy", version: versions[colour] } : { slot: colour };
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

export function addressOf(server: http.Server): string {
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Counts which slot answered `requests` GETs over a few keep-alive connections. */
export async function slotsServing(url: string, requests: number): Promise<Map<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const answers = await Promise.all(
    Array.from(
      { length: requests },
      () =>
        new Promise<{ status: number; slot: string }>((resolve, reject) => {
          http
            .get(url, { agent }, (res) => {
              res.resume();
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, slot: String(res.headers["x-slot"]) }),
              );
            })
            .on("error", reject);
        }),
    ),
  );
  agent.destroy();
  const seen = new Map<string, number>();
  for (const { status, slot } of answers) {
    const key = status === 200 ? slot : `HTTP ${status}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}
