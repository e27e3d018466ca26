import assert from "node:assert/strict";
import { providerError } from "../../components/providers/inputs";
import { undoingOnFailure } from "../../components/providers/routerRollback";
import type { Live, RouterSession } from "../../components/providers/routerSession";

/** A router that records what is put back, failing where told to. */
function fakeRouter(fail?: string) {
  const calls: string[] = [];
  const router = {
    async restoreRoute(route: string | undefined) {
      calls.push(`route ${route}`);
      if (fail) throw new Error(fail);
    },
    async pointCertificate(certificate: string | undefined) {
      calls.push(`certificate ${certificate}`);
    },
    async goLive(site: string | undefined) {
      calls.push(`site ${site}`);
    },
  } as unknown as RouterSession;
  return { router, calls };
}

const before: Live = {
  route: "routes/blue-0",
  site: "sites/abc",
  certificate: "certificates/c1",
  maintenance: false,
};

describe("undoingOnFailure", () => {
  it("gives back what the work returned, touching nothing", async () => {
    const { router, calls } = fakeRouter();
    assert.equal(await undoingOnFailure(router, before, async () => "held"), "held");
    assert.deepEqual(calls, []);
  });

  it("passes a failure through untouched when nothing had moved yet", async () => {
    const { router, calls } = fakeRouter();
    const refused = providerError("NginxRefused", "nginx refused");
    await assert.rejects(
      undoingOnFailure(router, before, async () => {
        throw refused;
      }),
      (error) => error === refused,
    );
    assert.deepEqual(calls, []);
  });

  it("puts back traffic, then the site, and says so under the failure's name", async () => {
    const { router, calls } = fakeRouter();
    await assert.rejects(
      undoingOnFailure(router, before, async (moved) => {
        moved.site = true;
        moved.traffic = true;
        throw providerError("RouterDidNotHold", "the router did not hold green");
      }),
      {
        name: "RouterDidNotHold",
        message:
          "the router did not hold green. Switched back: traffic is on blue again; " +
          "the previous configuration is live again.",
      },
    );
    assert.deepEqual(calls, ["route routes/blue-0", "site sites/abc"]);
  });

  it("puts the previous certificate back after the site, so handshakes never lack one", async () => {
    const { router, calls } = fakeRouter();
    await assert.rejects(
      undoingOnFailure(router, before, async (moved) => {
        moved.certificate = true;
        moved.site = true;
        throw providerError("NginxReloadFailed", "nginx -s reload failed");
      }),
      {
        name: "NginxReloadFailed",
        message:
          "nginx -s reload failed. Switched back: the previous configuration is live again; " +
          "new handshakes get the previous certificate again.",
      },
    );
    assert.deepEqual(calls, ["site sites/abc", "certificate certificates/c1"]);
  });

  it("says when putting back failed too", async () => {
    const { router } = fakeRouter("no such container");
    await assert.rejects(
      undoingOnFailure(
        router,
        { route: undefined, site: undefined, certificate: undefined, maintenance: false },
        async (moved) => {
          moved.traffic = true;
          throw new Error("timed out");
        },
      ),
      { name: "Error", message: "timed out; putting the router back failed too: no such container" },
    );
  });
});
