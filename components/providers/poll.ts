/**
 * The one polling loop the providers wait with: the health gate (`waitUntilStable`), the
 * router's post-switch watch, its wait for nginx to load a new generation, and the wait for a
 * Netlify deploy. Each of them says what a try is and what it means; the loop says when the
 * next try happens.
 *
 * Waits start at 50 ms and grow by a tenth each try up to `intervalMs`, and start over fast
 * whenever what a try sees changes: a change is noticed within about a tenth of the time
 * already spent waiting, while the number of tries grows only with the logarithm of the wait.
 */
import { performance } from "node:perf_hooks";

export const firstPollDelayMs = 50;
const backoffGrowth = 1.1;

/** What one try saw; a change of `state` starts the waits over fast. */
export interface Attempt {
  state: string;
}

/** One try as the caller judges it. */
export interface PollStep<A extends Attempt> {
  attempt: A;
  /** Tries made so far, this one included. */
  tries: number;
  /** `performance.now()` when the loop started, and after this try. */
  startedAt: number;
  now: number;
  /** Whether this try's state differs from the one before (always true for the first). */
  changed: boolean;
}

/** After a try: finish with a value, or try again, waiting at most `waitAtMostMs`. Throwing ends the loop. */
export type PollVerdict<T> = { done: T } | { waitAtMostMs: number };

export interface PollTiming {
  /** Longest wait between tries. */
  intervalMs: number;
  /** The wait after the first try and after a change; 50 ms unless said. Equal to `intervalMs`, every wait is that. */
  firstDelayMs?: number;
  /** `performance.now()` the caller counts from; now when left out. */
  startedAt?: number;
  /** How a wait is made; tests record the waits instead. */
  sleep?: (ms: number) => Promise<void>;
}

/** Tries until `judge` says done (or throws); see the file comment for the timing. */
export async function pollUntil<A extends Attempt, T>(
  timing: PollTiming,
  attempt: () => Promise<A>,
  judge: (step: PollStep<A>) => PollVerdict<T>,
): Promise<T> {
  const { intervalMs, firstDelayMs = firstPollDelayMs, startedAt = performance.now(), sleep = wait } = timing;
  let tries = 0;
  let last: A | undefined;
  let delay = firstDelayMs;
  for (;;) {
    const outcome = await attempt();
    tries++;
    const now = performance.now();
    const changed = outcome.state !== last?.state;
    last = outcome;
    const verdict = judge({ attempt: outcome, tries, startedAt, now, changed });
    if ("done" in verdict) return verdict.done;
    delay = changed ? firstDelayMs : Math.min(delay * backoffGrowth, intervalMs);
    await sleep(Math.max(0, Math.min(delay, intervalMs, verdict.waitAtMostMs)));
  }
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
