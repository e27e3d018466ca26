/**
 * The rollback of a failed router update: the links it moved (`current`, the live site
 * generation; `live`, the traffic pointer; `certificate`) go back where they were, and the error says what
 * failed and what was put back, so Pulumi's state and what is live agree.
 */
import { errorMessage, providerError } from "./inputs";
import { describeTraffic, parseRoute } from "./routerState";
import type { Live, RouterSession } from "./routerSession";

/** What an update has moved so far, and so what a failure puts back. */
export interface Moved {
  site: boolean;
  traffic: boolean;
  certificate: boolean;
}

/**
 * Runs the update's moves (`work` marks each in `moved` before making it). If one fails after
 * anything moved, puts it back and fails with the same name, saying what it put back (or that
 * putting back failed too).
 */
export async function undoingOnFailure<T>(
  router: RouterSession,
  before: Live,
  work: (moved: Moved) => Promise<T>,
): Promise<T> {
  const moved: Moved = { site: false, traffic: false, certificate: false };
  try {
    return await work(moved);
  } catch (error) {
    if (!moved.site && !moved.traffic && !moved.certificate) throw error;
    const name = error instanceof Error ? error.name : "RouterSwitchFailed";
    let undone: string;
    try {
      undone = await putBack(router, before, moved);
    } catch (undoError) {
      const why = errorMessage(undoError);
      throw providerError(name, `${errorMessage(error)}; putting the router back failed too: ${why}`);
    }
    throw providerError(name, `${errorMessage(error)}. Switched back: ${undone}.`);
  }
}

/** Puts the links an update moved back where they were (reloading for the site); says what it did. */
async function putBack(router: RouterSession, before: Live, moved: Moved): Promise<string> {
  const done: string[] = [];
  if (moved.traffic) {
    await router.restoreRoute(before.route);
    done.push(`traffic is on ${describeTraffic(before.route ? parseRoute(before.route) : undefined)} again`);
  }
  if (moved.site) {
    await router.goLive(before.site);
    done.push(
      before.site ? "the previous configuration is live again" : "no configuration is live, as before",
    );
  }
  if (moved.certificate) {
    await router.pointCertificate(before.certificate);
    done.push("new handshakes get the previous certificate again");
  }
  return done.join("; ");
}
