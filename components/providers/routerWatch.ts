/**
 * The post-switch watch: after a switch, the router itself (its check listener, which serves the
 * pointer's active slot) must pass every try for the post-switch window. Tries are the gate's
 * (`tryOnce`), and so is the loop (poll.ts).
 */
import { performance } from "node:perf_hooks";
import { type TryOutcome, tryOnce } from "./healthGate";
import { providerError } from "./inputs";
import { type PollStep, type PollVerdict, pollUntil } from "./poll";
import { type RouterVerification, verificationSpec } from "./routerInputs";

/**
 * Watches the router (its check listener at `checkUrl`) for the post-switch window and resolves with the time it held: every try
 * must pass, from the first one on. Unlike a slot's gate (`waitUntilStable`, where a failure
 * restarts the window), a switch that fails once while users are on it is a switch to undo.
 * Tries follow the gate's loop (poll.ts), so an early failure is caught early.
 */
export async function holdThroughRouter(
  verify: RouterVerification,
  checkUrl: string,
  what: string,
  log: (message: string) => void,
): Promise<string> {
  const spec = verificationSpec(verify, `${checkUrl}${verify.path}`);
  const started = performance.now();
  log(
    `watching ${spec.url} for ${spec.stableForMs} ms: every check must pass on version ${spec.expectedVersion}`,
  );
  const judge = ({ attempt: outcome, tries: checks, now }: PollStep<TryOutcome>): PollVerdict<string> => {
    const elapsed = now - started;
    if (!outcome.passed) {
      throw providerError(
        "RouterDidNotHold",
        `the router did not hold ${what} on version ${spec.expectedVersion} ` +
          `for ${spec.stableForMs} ms after the switch: ` +
          `check ${checks}, ${Math.round(elapsed)} ms in, saw ${outcome.seen}`,
      );
    }
    if (elapsed >= spec.stableForMs) {
      log(`held for ${Math.round(elapsed)} ms over ${checks} checks`);
      return { done: new Date().toISOString() };
    }
    return { waitAtMostMs: spec.stableForMs - elapsed };
  };
  return pollUntil(
    { intervalMs: spec.intervalMs, startedAt: started },
    () => tryOnce(spec, spec.timeoutMs),
    judge,
  );
}
