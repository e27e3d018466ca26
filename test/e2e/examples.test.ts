/**
 * The example stacks through the real engine: each system's own stack file, with the demo app
 * standing in for its app, deploys, switches to its idle slot and rolls back, the switch changing
 * nothing but the router's upstream (and Meme Maker's worker, which follows it). (Psychic Homily's
 * native slots run in native-slots.test.ts, its two deployments on one host in deployments.test.ts.)
 */
import assert from "node:assert/strict";
import type { SlotColour } from "../../infra/stackKeys";
import { type OwnPorts, type TestStack, workerCommand } from "./support/engine";
import { newExampleStack, teardownKeptStack, updateStackFile } from "./support/examples";
import { httpGet, runChecked } from "../support/process";
import { type Answer, answersOnNewConnections } from "./support/traffic";

async function inspect(container: string, format: string): Promise<string> {
  return (await runChecked("docker", ["inspect", "--format", format, container])).stdout.trim();
}

const ports: OwnPorts = { httpPort: 8184, checkPort: 18480, loopbackPorts: { blue: 18481, green: 18482 } };
const site = `http://127.0.0.1:${ports.httpPort}/`;
const other = (colour: SlotColour): SlotColour => (colour === "blue" ? "green" : "blue");

/**
 * Each example, with what this machine changes for its first deploy and, if any, its next release,
 * and what a switch changes beside the router's upstream.
 */
const examples: {
  system: string;
  overrides?: Record<string, unknown>;
  next?: Record<string, unknown>;
  switchAlsoChanges?: string[];
  /** Secrets its accessories need to start, by config path (the example's own are left out). */
  secrets?: Record<string, string>;
  /** What a user of that system checks after the first deploy, beyond the router's answer. */
  deployed?: (active: Answer) => Promise<void>;
}[] = [
  { system: "togather" },
  {
    system: "meme-maker",
    // The demo app's worker stands in for the video worker (a Python module of Meme Maker's image);
    // MinIO and Prometheus run on this machine's stand-ins (support/examples.ts). The demo app is
    // degraded until its migrations ran, where Meme Maker's backend has none.
    overrides: {
      migrations: { version: "002" },
      workers: { video: { command: workerCommand(), env: { QUEUE: "videos" }, stableForSeconds: 5 } },
    },
    // The worker follows the active slot, once the switch held.
    switchAlsoChanges: ["replace worker-video", "replace worker-video-stable"],
    // MinIO (and its stand-in) refuses to start with a root user and no password.
    secrets: { "accessorySecrets.minio.MINIO_ROOT_PASSWORD": `minio-${Date.now()}` },
    deployed: async (active) => {
      for (const accessory of ["minio", "prometheus"])
        assert.equal(await inspect(accessory, "{{.State.Health.Status}}"), "healthy", accessory);
      const env = await inspect("video-worker", "{{json .Config.Env}}");
      assert.ok(
        JSON.parse(env).includes(`APP_VERSION=${active.split(" ")[1]}`),
        "the worker runs the active version",
      );
      // The smoke checks' paths, as the public sees them.
      for (const page of ["docs", "metrics"])
        assert.equal((await httpGet(`${site}${page}`)).status, 200, page);
    },
  },
  {
    system: "unite-hub",
    // The demo app answers its health where the example's app does: /api/health/system; and it
    // is degraded until its migrations ran, where the example's app has none.
    overrides: {
      app: { env: { NODE_ENV: "production", HEALTH_PATH: "/api/health/system" } },
      migrations: { version: "002" },
    },
  },
  {
    system: "1001-stories",
    // Validations read the database before their migration set: a first deploy, on an empty
    // database, has no table for them yet. They come with the next set, as a team adds them.
    overrides: { migrations: { validations: [] } },
    next: {
      migrations: {
        version: "2026-12-01-check",
        // The example's checks, on the demo app's table: the rows kept, and none without a name.
        validations: [
          { name: "every item kept", query: "SELECT count(*) FROM items", expect: "unchanged" },
          { name: "every item named", query: "SELECT count(*) FROM items WHERE name IS NULL", expect: "0" },
        ],
      },
    },
  },
];

describe("the example stacks through the real engine", function () {
  this.timeout(900_000);

  for (const { system, overrides, next, switchAlsoChanges = [], secrets, deployed } of examples) {
    describe(system, () => {
      let stack: TestStack;
      let versions: Record<SlotColour, string>;
      const name = `example-${system.replace(/\W/g, "")}`;

      before(async () => {
        ({ stack, slots: versions } = await newExampleStack(
          system,
          "Pulumi.production.yaml",
          name,
          ports,
          overrides,
        ));
        if (secrets) await stack.setSecrets(secrets);
      });

      after(() => stack && teardownKeptStack(stack));

      it("deploys, switches to the idle slot with only the upstream changing, and rolls back", async () => {
        await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
        if (next) {
          updateStackFile(stack, next);
          await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
        }
        const active = (
          await stack.pulumiChecked(["config", "get", "activeSlot"])
        ).stdout.trim() as SlotColour;
        assert.deepEqual(await answersOnNewConnections(5, site), [`${active} ${versions[active]}`]);
        await deployed?.(`${active} ${versions[active]}`);

        for (const colour of [other(active), active]) {
          await stack.pulumiChecked(["config", "set", "activeSlot", colour]);
          assert.deepEqual(
            (await stack.plannedChanges()).sort(),
            ["update router-upstream", ...switchAlsoChanges].sort(),
          );
          await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
          assert.deepEqual(await answersOnNewConnections(5, site), [`${colour} ${versions[colour]}`]);
        }
        await stack.pulumiChecked(["preview", "--expect-no-changes"]);
      });
    });
  }
});
