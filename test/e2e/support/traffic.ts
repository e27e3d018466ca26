/**
 * Traffic through the dev stack's router, watched the way a user watches it: who answered each
 * request, on keep-alive connections while something else runs, or on new connections after.
 */
import * as http from "node:http";
import { delay, httpGet, runChecked } from "../../support/process";

export const routerUrl = "http://127.0.0.1:8080";

/** Who answered one request through the router: `blue 1.0.0`, or `HTTP 502`, or the socket error. */
export type Answer = string;

/**
 * Sends requests to the router (or another `url`) until stopped, each of `connections` loops one after another on
 * its own keep-alive connection. Unlike autocannon it honours `Connection: close` (nginx sends
 * it every `keepalive_requests`), as browsers do, so an error here is a request a user lost.
 */
export class Probe {
  readonly answers: Answer[] = [];
  /** When each answer came, in ms since the epoch, in the order of `answers`. */
  readonly times: number[] = [];
  private running = true;
  private readonly done: Promise<void[]>;
  private readonly agent: http.Agent;

  constructor(
    connections = 1,
    pauseMs = 20,
    private readonly url = `${routerUrl}/`,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    this.done = Promise.all(Array.from({ length: connections }, () => this.loop(pauseMs)));
  }

  private async loop(pauseMs: number): Promise<void> {
    while (this.running) {
      this.answers.push(await this.once());
      this.times.push(Date.now());
      await delay(pauseMs);
    }
  }

  private once(): Promise<Answer> {
    return new Promise((resolve) => {
      const req = http.get(this.url, { agent: this.agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on("end", () =>
          resolve(
            res.statusCode === 200
              ? `${res.headers["x-slot"]} ${res.headers["x-app-version"]}`
              : `HTTP ${res.statusCode}`,
          ),
        );
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (error) => resolve(`error ${error.message}`));
    });
  }

  /** When `answer` first came, in ms since the epoch. */
  firstTime(answer: Answer): number | undefined {
    const index = this.answers.indexOf(answer);
    return index === -1 ? undefined : this.times[index];
  }

  /** Every distinct answer, with how many times it came. */
  async stop(): Promise<Record<Answer, number>> {
    this.running = false;
    await this.done;
    this.agent.destroy();
    const counts: Record<Answer, number> = {};
    for (const answer of this.answers) counts[answer] = (counts[answer] ?? 0) + 1;
    return counts;
  }
}

/** What `probe` saw while `action` ran: every answer, with how many times it came. */
export async function whileProbing(
  probe: Probe,
  action: () => Promise<unknown>,
): Promise<Record<Answer, number>> {
  try {
    await action();
  } catch (error) {
    await probe.stop();
    throw error;
  }
  return probe.stop();
}

/** The answers in `seen` other than 200s from the `expected` slots: refused, reset, failed or misrouted. */
export function unexpected(seen: Record<Answer, number>, expected: Answer[]): Record<Answer, number> {
  return Object.fromEntries(Object.entries(seen).filter(([answer]) => !expected.includes(answer)));
}

/** Who answers each of `count` requests on new connections. */
export async function answersOnNewConnections(count: number, url = `${routerUrl}/`): Promise<Answer[]> {
  const seen = new Set<Answer>();
  for (let i = 0; i < count; i++) {
    const res = await httpGet(url);
    seen.add(
      res.status === 200 ? `${res.headers["x-slot"]} ${res.headers["x-app-version"]}` : `HTTP ${res.status}`,
    );
  }
  return [...seen];
}

export async function containerId(name: string): Promise<string> {
  return (await runChecked("docker", ["inspect", "--format", "{{.Id}}", name])).stdout.trim();
}
