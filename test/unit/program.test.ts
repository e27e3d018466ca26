/**
 * The real program under Pulumi mocks, fed the real stack files: what a user would see in
 * `pulumi preview`, asserted as a resource graph.
 */
import assert from "node:assert/strict";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { dockerCpus, dockerDuration } from "../../infra/dockerReadBack";
import { caddySiteFile, containerCaddy } from "../../components/providers/caddyConfig";
import { unpinnedImageReason } from "../../infra/images";
import {
  EngineState,
  Graph,
  isSecretValue,
  type ProgramRun,
  plainOccurrences,
  type Registration,
  readStackFile,
  repoRoot,
  reveal,
  runProgram,
  type StackName,
  type StackValues,
  secretFor,
} from "../support/program";

const container = "docker:index/container:Container";
const pgSnapshot = "pulumi-nodejs:dynamic/switchyard:PgSnapshot";
const healthGate = "pulumi-nodejs:dynamic/switchyard:HealthGate";
const nginxUpstream = "pulumi-nodejs:dynamic/switchyard:NginxUpstream";
const caddyUpstream = "pulumi-nodejs:dynamic/switchyard:CaddyUpstream";

interface SlotFile {
  image?: string;
  build?: string;
  version: string;
  rollout?: number;
}

function slotsOf(values: StackValues): Record<"blue" | "green", SlotFile> {
  return values.slots as Record<"blue" | "green", SlotFile>;
}

async function mustRun(
  stack: StackName,
  options: Parameters<typeof runProgram>[1] = {},
): Promise<ProgramRun> {
  const run = await runProgram(stack, options);
  if (run.error) throw run.error;
  return run;
}

/** Runs `work` and collects what the program said with `pulumi.log.info` meanwhile. */
async function capturingInfoLogs<T>(work: () => Promise<T>): Promise<{ result: T; messages: string[] }> {
  const messages: string[] = [];
  const original = pulumi.log.info;
  pulumi.log.info = async (message: string) => {
    messages.push(message);
  };
  try {
    return { result: await work(), messages };
  } finally {
    pulumi.log.info = original;
  }
}

/** Registrations keyed by type and role, inputs revealed, for comparing two runs. */
function snapshot(run: ProgramRun): Map<string, unknown> {
  const graph = new Graph(run.registrations);
  return new Map(run.registrations.map((r) => [`${r.type}::${graph.roleOf(r)}`, reveal(r.inputs)]));
}

function changedResources(before: ProgramRun, after: ProgramRun): string[] {
  const a = snapshot(before);
  const b = snapshot(after);
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((key) => JSON.stringify(a.get(key)) !== JSON.stringify(b.get(key))).sort();
}

function env(registration: Registration): Record<string, string> {
  const list = reveal(registration.inputs.envs) as string[];
  return Object.fromEntries(
    list.map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

function networksOf(registration: Registration): string[] {
  return (reveal(registration.inputs.networksAdvanced) as { name: string }[]).map((n) => n.name);
}

for (const stack of ["stage", "production"] as const) {
  describe(`program under mocks: ${stack} stack`, () => {
    const { values } = readStackFile(stack);
    let run: ProgramRun;
    let graph: Graph;

    before(async () => {
      run = await mustRun(stack);
      graph = new Graph(run.registrations);
    });

    it("registers the whole topology with stable container names", () => {
      const names = graph
        .ofType(container)
        .map((r) => reveal(r.inputs.name))
        .sort();
      const expected = ["app-blue", "app-green", "postgres", "router"];
      if ((values.redis as { enabled?: boolean }).enabled !== false) expected.push("redis");
      assert.deepEqual(names, expected.sort());
      for (const type of [
        "switchyard:index:Deployment",
        "switchyard:data:Database",
        "switchyard:data:MigrationJob",
        "switchyard:router:Router",
      ]) {
        assert.equal(graph.ofType(type).length, 1, type);
      }
      assert.equal(graph.ofType("switchyard:app:AppSlot").length, 2);
    });

    it("runs each slot from its own image, pinned by image id", () => {
      const slots = slotsOf(values);
      for (const colour of ["blue", "green"] as const) {
        const pulled = graph.byRole(`app-${colour}-image`, "docker:index/remoteImage:RemoteImage");
        assert.equal(pulled.inputs.name, slots[colour].image);
        const slot = graph.byRole(`app-${colour}`, container);
        assert.equal(slot.inputs.image, pulled.state.imageId);
        assert.equal(env(slot).APP_VERSION, slots[colour].version);
        assert.equal(env(slot).SLOT, colour);
      }
      assert.notEqual(
        graph.byRole("app-blue", container).inputs.image,
        graph.byRole("app-green", container).inputs.image,
      );
    });

    it("keeps the database and Redis on the internal network with no published port", () => {
      const privateNet = graph.byRole("private", "docker:index/network:Network");
      assert.equal(privateNet.inputs.internal, true);
      for (const name of ["postgres", "redis"]) {
        const registration = graph.registrations.find((r) => r.type === container && r.name === name);
        if (!registration) continue;
        assert.deepEqual(networksOf(registration), [privateNet.inputs.name]);
        assert.equal(registration.inputs.ports, undefined, `${name} publishes no port`);
      }
      const dataVolume = graph.byRole("postgres", "docker:index/volume:Volume");
      assert.equal(dataVolume.inputs.name, (values.database as { volume: string }).volume);
      assert.equal(dataVolume.options.retainOnDelete, true, "the data volume survives `pulumi destroy`");
      assert.equal(dataVolume.options.protect, true, "no update can even plan the data volume's deletion");
    });

    it("refuses `pulumi destroy` before it deletes anything: a protected guard depends on every resource", () => {
      const guard = graph.byRole("keep-data-outside-development", "pulumi:index:Stash");
      assert.equal(guard.options.protect, true);
      const unguarded = graph.registrations.filter(
        (r) =>
          r.custom &&
          r.urn !== guard.urn &&
          !r.type.startsWith("pulumi:providers:") &&
          !guard.dependencies.includes(r.urn),
      );
      assert.deepEqual(
        unguarded.map((r) => `${r.type}::${r.name}`),
        [],
        "destroy would delete these before it reached the guard",
      );
    });

    it("binds slots to loopback only, with limits, a restart policy, a healthcheck and a non-root user", () => {
      for (const colour of ["blue", "green"] as const) {
        const slot = reveal(graph.byRole(`app-${colour}`, container).inputs) as Record<string, unknown>;
        const ports = slot.ports as { ip: string }[];
        assert.ok(ports.every((p) => p.ip === "127.0.0.1"));
        assert.ok((slot.memory as number) > 0);
        assert.ok(Number(slot.cpus) > 0);
        assert.equal(slot.restart, "unless-stopped");
        assert.match(slot.user as string, /^\d+:\d+$/);
        assert.ok((slot.healthcheck as { tests: string[] }).tests.join(" ").includes("/health"));
        assert.deepEqual(networksOf(graph.byRole(`app-${colour}`, container)).sort(), [
          "switchyard-edge",
          "switchyard-private",
        ]);
      }
    });

    it("routes by activeSlot and canary weight through the switch, never through the container", () => {
      const upstream = graph.byRole("router-upstream", nginxUpstream);
      assert.equal(upstream.inputs.activeSlot, values.activeSlot);
      assert.equal(
        upstream.inputs.canaryWeight,
        (values.router as { canaryWeight?: number }).canaryWeight ?? 0,
      );
      const site = (reveal(upstream.inputs.files) as Record<string, string>)["site.conf"];
      const app = values.app as { loopbackPorts?: Record<string, number> } | undefined;
      // The schema's defaults; no stack file changes them.
      const loopbackPorts = { blue: 18081, green: 18082, ...app?.loopbackPorts };
      for (const colour of ["blue", "green"] as const) {
        const port = reveal(graph.byRole(`app-${colour}`, container).inputs.ports) as {
          external: number;
          ip: string;
        }[];
        assert.deepEqual(
          port.map((each) => `${each.ip}:${each.external}`),
          [`127.0.0.1:${loopbackPorts[colour]}`],
        );
        assert.match(
          site,
          new RegExp(`server 127\\.0\\.0\\.1:${loopbackPorts[colour]} max_fails=0;`),
          "both upstreams are always present, at the slots' fixed loopback ports, which no replacement moves",
        );
      }
      assert.doesNotMatch(site, /app-(blue|green)/, "no name for nginx to resolve when it loads the site");
      const router = graph.byRole("router", container);
      assert.equal(router.inputs.networkMode, "host", "the router reaches the loopback ports");
      assert.equal(router.inputs.ports, undefined, "and publishes nothing: it listens where the site says");
      assert.equal(router.inputs.networksAdvanced, undefined);
      const uploads = reveal(router.inputs.uploads) as { file: string; content: string }[];
      assert.deepEqual(
        uploads.map((upload) => upload.file),
        ["/etc/nginx/nginx.conf"],
        "the container holds no slot choice, so a switch never replaces it",
      );
    });

    it("orders the release: database, snapshot, migrations, slots, their gates, then the router", () => {
      const snapshot = graph.byRole("db-snapshot", pgSnapshot);
      assert.ok(graph.waitsFor(snapshot, graph.byRole("postgres", container)), "snapshot after the database");
      const migrate = graph.byRole("migrate-run");
      assert.ok(graph.waitsFor(migrate, snapshot), "migrations after the snapshot");
      const slots = slotsOf(values);
      for (const colour of ["blue", "green"] as const) {
        const slot = graph.byRole(`app-${colour}`, container);
        assert.ok(graph.waitsFor(slot, migrate), `app-${colour} after migrations`);
        const gate = graph.byRole(`app-${colour}-gate`, healthGate);
        assert.ok(graph.waitsFor(gate, slot), `app-${colour}-gate after its slot`);
        assert.equal(gate.inputs.expectedVersion, slots[colour].version);
        const health = (values.health ?? {}) as { stableForSeconds?: number; deadlineSeconds?: number };
        assert.equal(gate.inputs.stableForMs, (health.stableForSeconds ?? 10) * 1000);
        assert.equal(gate.inputs.deadlineMs, (health.deadlineSeconds ?? 60) * 1000);
        assert.deepEqual(
          Object.keys(reveal(gate.inputs.guards) as object).sort(),
          ["container", "image", "version"],
          "the gate re-runs when the slot's image, container or version changes",
        );
      }
      const active = values.activeSlot as "blue" | "green";
      const switchRegistration = graph.byRole("router-upstream", nginxUpstream);
      assert.ok(graph.waitsFor(switchRegistration, graph.byRole(`app-${active}-gate`, healthGate)));
      assert.ok(graph.waitsFor(switchRegistration, graph.byRole("router", container)));
    });

    it("snapshots with the database's own tools, the password and the ssh key kept secret", () => {
      const snapshot = graph.byRole("db-snapshot", pgSnapshot);
      assert.ok(isSecretValue(snapshot.inputs.password), "password is a secret input");
      assert.ok(isSecretValue(snapshot.inputs.executor), "executor (it holds the ssh key) is a secret input");
      assert.deepEqual(snapshot.inputs.commandPrefix, ["docker", "exec", "-i", "postgres"]);
      const { directory, retention } = values.snapshots as { directory: string; retention: number };
      assert.equal(snapshot.inputs.directory, directory);
      assert.equal(snapshot.inputs.retention, retention);
      assert.equal(snapshot.inputs.migrationSet, (values.migrations as { version: string }).version);
    });

    it("snapshots.skip drops the snapshot and still runs the migrations", async () => {
      const skipped = await mustRun(stack, {
        mutate: (v) => {
          v.snapshots = { ...(v.snapshots as object), skip: true };
        },
      });
      const skippedGraph = new Graph(skipped.registrations);
      assert.deepEqual(skippedGraph.ofType(pgSnapshot), []);
      assert.ok(skippedGraph.byRole("migrate-run"));
    });

    it("keeps every secret secret: generated passwords, app secrets, keys, connection URLs", () => {
      const secrets = [
        ...graph
          .ofType("random:index/randomPassword:RandomPassword")
          .map((r) => reveal(r.state.result) as string),
        ...Object.keys((values.appSecrets as Record<string, string>) ?? {}).map((k) =>
          secretFor(`appSecrets.${k}`),
        ),
        secretFor("sshPrivateKey").split("\n")[1],
      ];
      assert.ok(secrets.length >= 4);
      for (const secret of secrets) {
        for (const registration of run.registrations) {
          assert.deepEqual(
            plainOccurrences(registration.inputs, secret),
            [],
            `${registration.name} leaks a secret`,
          );
        }
        assert.deepEqual(plainOccurrences(run.outputs, secret), []);
      }
      for (const colour of ["blue", "green"]) {
        const slot = graph.byRole(`app-${colour}`, container);
        assert.ok(isSecretValue(slot.inputs.envs));
        assert.match(env(slot).DATABASE_URL, /^postgres:\/\/\w+:generated-/);
      }
      assert.ok(isSecretValue(graph.byRole("migrate-run").inputs.stdin));
    });

    it("flipping activeSlot changes the router switch and nothing stateful", async () => {
      const state = new EngineState();
      const first = await mustRun(stack, { state });
      const flipped = await mustRun(stack, {
        state,
        mutate: (v) => {
          v.activeSlot = v.activeSlot === "blue" ? "green" : "blue";
        },
      });
      // The frontend is rebuilt for the backend version that is now live, after the switch held.
      const frontend = values.frontend
        ? ["pulumi-nodejs:dynamic/switchyard:NetlifyDeploy::frontend-deploy"]
        : [];
      assert.deepEqual(
        changedResources(first, flipped).sort(),
        [`${nginxUpstream}::router-upstream`, ...frontend].sort(),
      );
    });

    it("a shared change (env, limits, health, app secrets) never touches a running slot until it is released", async () => {
      const state = new EngineState();
      const first = await mustRun(stack, { state });
      const shared = (v: StackValues) => {
        const app = v.app as { env: Record<string, string>; resources: { memoryMb: number } };
        app.env = { ...app.env, FEATURE_FLAGS: "checkout-v2" };
        app.resources = { ...app.resources, memoryMb: 2048 };
        // The container's healthcheck is built from these, and a changed healthcheck replaces it.
        v.health = { ...(v.health as object), intervalSeconds: 7 };
        v.appSecrets = { ...(v.appSecrets as object), NEW_API_TOKEN: "rotated-token-value" };
      };
      const notices = await capturingInfoLogs(() => mustRun(stack, { state, mutate: shared }));
      const changed = notices.result;
      const slotChanges = changedResources(first, changed).filter((key) => key.startsWith(container));
      assert.deepEqual(slotChanges, [], "no slot container changes from a shared change alone");
      for (const colour of ["blue", "green"]) {
        const notice = notices.messages.find((message) => message.startsWith(`app-${colour} keeps`));
        assert.ok(notice, `app-${colour} says that settings wait for its release: ${notices.messages}`);
        assert.match(notice, /the new app\.env, health, app\.resources, secrets reach it/);
        assert.ok(!notice.includes("rotated-token-value"), "no secret in the notice");
      }

      const active = values.activeSlot as "blue" | "green";
      const idle = active === "blue" ? "green" : "blue";
      const released = await mustRun(stack, {
        state,
        mutate: (v) => {
          shared(v);
          const slot = slotsOf(v)[idle];
          slot.rollout = (slot.rollout ?? 0) + 1;
        },
      });
      const releasedChanges = changedResources(first, released).filter((key) => key.startsWith(container));
      assert.deepEqual(
        releasedChanges,
        [`${container}::app-${idle}`],
        "the released idle slot alone picks it up",
      );
      const idleEnv = env(new Graph(released.registrations).byRole(`app-${idle}`, container));
      assert.equal(idleEnv.FEATURE_FLAGS, "checkout-v2");
      assert.equal(idleEnv.NEW_API_TOKEN, "rotated-token-value");
      const activeEnv = env(new Graph(released.registrations).byRole(`app-${active}`, container));
      assert.equal(activeEnv.FEATURE_FLAGS, undefined, "the active slot still runs its own release");
    });

    it("taking app.command or app.user back replaces the released slot, though Docker reads both back", async () => {
      const idle = values.activeSlot === "blue" ? "green" : "blue";
      const releaseIdle = (v: StackValues, rollout: number, app: Record<string, unknown>) => {
        v.app = { ...(v.app as object), ...app };
        slotsOf(v)[idle].rollout = rollout;
      };
      const state = new EngineState();
      const overridden = await mustRun(stack, {
        state,
        mutate: (v) => releaseIdle(v, 1, { command: ["node", "other.js"], user: "999" }),
      });
      const taken = await mustRun(stack, { state, mutate: (v) => releaseIdle(v, 2, { user: null }) });
      // Docker's provider keeps these as read back from the container when the inputs go away.
      const notReadBack = (run: ProgramRun) => {
        const inputs = reveal(new Graph(run.registrations).byRole(`app-${idle}`, container).inputs);
        return { ...(inputs as Record<string, unknown>), command: undefined, user: undefined };
      };
      assert.notDeepEqual(notReadBack(taken), notReadBack(overridden));
    });

    it("upgrading to the overrides label replaces no running slot: a release pinned before it has none", async () => {
      const state = new EngineState();
      const first = await mustRun(stack, { state });
      // What the engine holds for slots released by a switchyard without the label.
      // The release is a secret as a whole (it holds the secret env): its value is inside the wrapper.
      for (const [name, stash] of state.stashes)
        if (name.endsWith("-release"))
          delete (stash.output as { value: { overrides?: string } }).value.overrides;
      const upgraded = await mustRun(stack, { state });
      for (const colour of ["blue", "green"]) {
        const inputs = (run: ProgramRun) =>
          reveal(new Graph(run.registrations).byRole(`app-${colour}`, container).inputs) as Record<
            string,
            unknown
          >;
        assert.equal(inputs(upgraded).labels ?? undefined, undefined, `${colour}: no label, as in its state`);
        assert.deepEqual(
          { ...inputs(upgraded), labels: undefined },
          { ...inputs(first), labels: undefined },
          colour,
        );
      }
    });

    it("a new image for the idle slot replaces that slot only", async () => {
      const state = new EngineState();
      const first = await mustRun(stack, { state });
      const idle = values.activeSlot === "blue" ? "green" : "blue";
      const next = await mustRun(stack, {
        state,
        mutate: (v) => {
          slotsOf(v)[idle] = { image: "ghcr.io/acme/shop-api:9.9.9", version: "9.9.9" };
        },
      });
      const changes = changedResources(first, next);
      assert.ok(changes.includes(`${container}::app-${idle}`));
      assert.ok(!changes.includes(`${container}::app-${values.activeSlot}`));
      assert.ok(!changes.some((key) => key.endsWith("::postgres") || key.endsWith("::redis")));
    });

    it("uses only pinned images", () => {
      for (const pulled of graph.ofType("docker:index/remoteImage:RemoteImage")) {
        if (stack === "production")
          assert.equal(unpinnedImageReason(pulled.inputs.name as string), undefined);
      }
    });
  });
}

describe("program under mocks: dev stack", () => {
  it("reads the values of `unchanged` validations with the snapshot, and checks every validation after the migration", async () => {
    const plain = new Graph((await mustRun("dev")).registrations);
    assert.equal(plain.byRole("db-snapshot").inputs.validationQueries, undefined, "none without validations");
    assert.doesNotMatch(String(plain.byRole("migrate-run").inputs.create), /validation/);

    const run = await mustRun("dev", {
      mutate: (v) => {
        (v.migrations as Record<string, unknown>).validations = [
          { name: "items kept", query: "SELECT count(*) FROM items", expect: "unchanged" },
          { name: "no empty names", query: "SELECT count(*) FROM items WHERE name = ''", expect: "0" },
        ];
      },
    });
    const graph = new Graph(run.registrations);
    const snapshot = graph.byRole("db-snapshot");
    assert.deepEqual(snapshot.inputs.validationQueries, ["SELECT count(*) FROM items"]);
    const job = graph.byRole("migrate-run");
    const script = String(job.inputs.create);
    assert.match(script, /validation "items kept" after migration set 002/);
    assert.match(script, /validation "no empty names" after migration set 002/);
    assert.match(script, /exec postgres psql/);
    assert.ok(graph.waitsFor(job, snapshot), "the checks read what the snapshot read before");
  });

  it("builds the demo app locally for both slots and the migrations, and keeps the images on destroy", async () => {
    const run = await mustRun("dev");
    const graph = new Graph(run.registrations);
    const builds = graph
      .ofType("docker:index/remoteImage:RemoteImage")
      .filter((image) => image.inputs.build !== undefined);
    assert.deepEqual(builds.map((b) => graph.roleOf(b)).sort(), [
      "app-blue-image",
      "app-green-image",
      "migrate-image",
    ]);
    const digests = new Set<unknown>();
    for (const build of builds) {
      assert.deepEqual(build.inputs.build, { context: path.join(repoRoot, "examples/demo-app") });
      // Three builds of one directory share an image id: deleting one must not remove it from the others.
      assert.equal(build.inputs.keepLocally, true);
      digests.add((build.inputs.triggers as { context: string }).context);
    }
    assert.equal(digests.size, 1);
    assert.match(String([...digests][0]), /^[0-9a-f]{64}$/);
    assert.equal(
      reveal(graph.byRole("docker", "pulumi:providers:docker").inputs.host),
      "unix:///var/run/docker.sock",
    );
    assert.equal(graph.byRole("migrate-run").inputs.environment, undefined, "no ssh key for a local target");
  });
});

describe("program under mocks: accessories", () => {
  const objectStore = {
    image: "127.0.0.1:5000/minio@sha256:" + "c".repeat(64),
    command: ["server", "/data"],
    env: { MINIO_ROOT_USER: "admin" },
    volumes: { data: "/data" },
    healthcheck: { command: ["mc", "ready", "local"] },
  };
  const withObjectStore = (blueVersion: string) =>
    mustRun("stage", {
      mutate: (v) => {
        v.accessories = {
          minio: objectStore,
          dashboard: {
            image: objectStore.image,
            network: "edge",
            ports: [{ container: 9001, loopback: 19001 }],
          },
        };
        v.accessorySecrets = { minio: { MINIO_ROOT_PASSWORD: "hunter2-minio" } };
        (v.slots as Record<string, Record<string, unknown>>).blue.version = blueVersion;
      },
      secretKeys: ["accessorySecrets"],
    });

  it("runs one on the private network, one on the edge with its port on loopback, data kept, and the slots after them", async () => {
    const graph = new Graph((await withObjectStore("2.15.0")).registrations);
    const accessory = graph.byRole("accessory-minio", container);
    const inputs = reveal(accessory.inputs) as Record<string, unknown>;
    assert.equal(inputs.name, "minio");
    assert.deepEqual(inputs.networksAdvanced, [{ name: "switchyard-private", aliases: ["minio"] }]);
    assert.deepEqual(inputs.ports, [], "Docker publishes nothing from an internal network");
    assert.deepEqual(inputs.volumes, [{ volumeName: "switchyard-minio.data", containerPath: "/data" }]);
    assert.deepEqual(inputs.command, ["server", "/data"]);
    assert.deepEqual((inputs.healthcheck as { tests: string[] }).tests, ["CMD", "mc", "ready", "local"]);
    assert.equal(inputs.wait, true, "the update waits until Docker reports it healthy");
    assert.equal(inputs.restart, "unless-stopped");
    assert.equal(inputs.memory, 256);
    assert.deepEqual(inputs.envs, ["MINIO_ROOT_USER=admin", "MINIO_ROOT_PASSWORD=hunter2-minio"]);
    assert.ok(isSecretValue(accessory.inputs.envs), "its environment holds a secret");
    assert.deepEqual(plainOccurrences(accessory.inputs, "hunter2-minio"), []);

    const dashboard = reveal(graph.byRole("accessory-dashboard", container).inputs) as Record<
      string,
      unknown
    >;
    assert.deepEqual(dashboard.networksAdvanced, [{ name: "switchyard-edge", aliases: ["dashboard"] }]);
    assert.deepEqual(dashboard.ports, [{ internal: 9001, external: 19001, ip: "127.0.0.1" }]);

    const volume = graph.byRole("accessory-minio-data", "docker:index/volume:Volume");
    assert.equal(volume.options.protect, true, "kept outside development");
    for (const colour of ["blue", "green"])
      assert.ok(
        graph.waitsFor(graph.byRole(`app-${colour}`, container), accessory),
        `app-${colour} waits for it`,
      );
  });

  it("registers it unchanged by a release: nothing of a slot reaches it", async () => {
    const before = new Graph((await withObjectStore("2.15.0")).registrations);
    const after = new Graph((await withObjectStore("2.16.0")).registrations);
    const blueEnv = (graph: Graph) => reveal(graph.byRole("app-blue", container).inputs.envs);
    assert.notDeepEqual(blueEnv(after), blueEnv(before), "the release changed the blue slot");
    for (const role of [
      "accessory-minio",
      "accessory-minio-image",
      "accessory-minio-data",
      "accessory-dashboard",
    ]) {
      const [was, is] = [before, after].map((graph) =>
        graph.registrations.filter((r) => graph.roleOf(r) === role).map((r) => reveal(r.inputs)),
      );
      assert.ok(was.length > 0, role);
      assert.deepEqual(is, was, `${role} is registered as before`);
    }
  });
});

describe("program under mocks: workers", () => {
  const withWorker = (values: { activeSlot: "blue" | "green"; greenVersion: string }) =>
    mustRun("stage", {
      mutate: (v) => {
        v.workers = { video: { command: ["node", "worker.js"], env: { QUEUE: "videos" } } };
        v.activeSlot = values.activeSlot;
        (v.slots as Record<string, Record<string, unknown>>).green.version = values.greenVersion;
      },
    });
  const workerOf = (graph: Graph) => graph.byRole("worker-video", container);

  it("runs the active slot's image and environment, once traffic has moved and held", async () => {
    const graph = new Graph((await withWorker({ activeSlot: "blue", greenVersion: "2.15.0" })).registrations);
    const worker = workerOf(graph);
    const blue = graph.byRole("app-blue", container);
    assert.equal(worker.inputs.name, "video-worker");
    assert.deepEqual(reveal(worker.inputs.image), reveal(blue.state.image));
    assert.deepEqual(reveal(worker.inputs.command), ["node", "worker.js"]);
    const env = reveal(worker.inputs.envs) as string[];
    assert.ok(isSecretValue(worker.inputs.envs), "it carries the app's secrets");
    for (const entry of reveal(blue.inputs.envs) as string[]) assert.ok(env.includes(entry), entry);
    assert.ok(env.includes("WORKER=video") && env.includes("QUEUE=videos"), env.join(" "));
    assert.equal(worker.options.deleteBeforeReplace, true, "the old one stops before the new one starts");
    assert.ok(graph.waitsFor(worker, graph.byRole("router-upstream")), "after the switch held");
    const stable = graph.byRole("worker-video-stable");
    assert.ok(graph.waitsFor(stable, worker));
    assert.match(String(stable.inputs.create), /stable-window video-worker 10 docker/);
  });

  it("stays as it is through a release of the idle slot, and follows the switch", async () => {
    const active = workerOf(
      new Graph((await withWorker({ activeSlot: "blue", greenVersion: "2.15.0" })).registrations),
    );
    const idleReleased = workerOf(
      new Graph((await withWorker({ activeSlot: "blue", greenVersion: "2.16.0" })).registrations),
    );
    assert.deepEqual(reveal(idleReleased.inputs), reveal(active.inputs), "green's release leaves it be");
    const switched = new Graph(
      (await withWorker({ activeSlot: "green", greenVersion: "2.16.0" })).registrations,
    );
    const env = reveal(workerOf(switched).inputs.envs) as string[];
    assert.ok(env.includes("SLOT=green") && env.includes("APP_VERSION=2.16.0"), env.join(" "));
    assert.deepEqual(
      reveal(workerOf(switched).inputs.image),
      reveal(switched.byRole("app-green", container).state.image),
    );
  });
});

describe("program under mocks: a local engine on another socket", () => {
  it("runs every docker command against that engine: the router's, the snapshot's, the migration's", async () => {
    const socket = "unix:///run/other-engine/docker.sock";
    const graph = new Graph(
      (await mustRun("dev", { mutate: (v) => void (v.target = { host: socket }) })).registrations,
    );
    const inputs = (name: string, type: string) =>
      reveal(graph.byRole(name, type).inputs) as Record<string, unknown>;
    const docker = ["docker", "-H", socket];
    assert.deepEqual((inputs("router-upstream", nginxUpstream).exec as string[]).slice(0, 3), docker);
    assert.deepEqual((inputs("db-snapshot", pgSnapshot).commandPrefix as string[]).slice(0, 3), docker);
    assert.ok(
      String(inputs("migrate-run", "command:local:Command").create).includes(`exec ${docker.join(" ")} run `),
      "the migration runs on that engine",
    );
  });
});

describe("program under mocks: wherever it runs from", () => {
  it("finds build directories from the project directory, not the working directory", async () => {
    // The engine runs the program from its `main` directory (infra/); a user may be anywhere.
    const cwd = process.cwd();
    process.chdir(os.tmpdir());
    try {
      const run = await mustRun("dev");
      const build = new Graph(run.registrations).byRole("app-blue-image");
      assert.deepEqual(build.inputs.build, { context: path.join(repoRoot, "examples/demo-app") });
    } finally {
      process.chdir(cwd);
    }
  });

  for (const stack of ["dev", "stage", "production"] as const) {
    it(`${stack}: exports no output without a value (Pulumi warns about each one on every update)`, async () => {
      const run = await mustRun(stack);
      assert.deepEqual(
        Object.entries(run.outputs)
          .filter(([, value]) => value === undefined)
          .map(([name]) => name),
        [],
      );
      assert.ok(run.outputs.routerUrl);
    });
  }

  it("dev: the data volumes go with the stack, the database's generated password with them", async () => {
    const graph = new Graph((await mustRun("dev")).registrations);
    for (const volume of [
      graph.byRole("postgres", "docker:index/volume:Volume"),
      graph.byRole("redis", "docker:index/volume:Volume"),
    ]) {
      assert.equal(volume.options.protect, false, volume.name);
      assert.equal(volume.options.retainOnDelete, false, volume.name);
    }
    assert.ok(
      !graph.registrations.some((r) => r.name === "keep-data-outside-development"),
      "destroy takes a dev stack whole",
    );
  });
});

describe("program under mocks: containers as Docker reads them back", () => {
  const seconds = (text: string) => {
    const parts = /^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s|(\d+)ms)$/.exec(text);
    assert.ok(parts, `${text} is not a Go duration`);
    return (
      Number(parts[1] ?? 0) * 3600 +
      Number(parts[2] ?? 0) * 60 +
      Number(parts[3] ?? 0) +
      Number(parts[4] ?? 0) / 1000
    );
  };

  for (const stack of ["dev", "stage", "production"] as const) {
    it(`${stack}: every container states cpus, swap and healthcheck durations in the spelling read back`, async () => {
      // Otherwise the next preview differs from the state: cpus and the healthcheck replace the container.
      const graph = new Graph((await mustRun(stack)).registrations);
      for (const registration of graph.ofType(container)) {
        const inputs = reveal(registration.inputs) as Record<string, unknown>;
        if (inputs.cpus !== undefined)
          assert.equal(inputs.cpus, dockerCpus(Number(inputs.cpus)), `${registration.name}.cpus`);
        if (inputs.memory !== undefined)
          assert.equal(inputs.memorySwap, inputs.memory, `${registration.name}.memorySwap`);
        const healthcheck = inputs.healthcheck as Record<string, string> | undefined;
        for (const field of ["interval", "timeout", "startPeriod"] as const) {
          const value = healthcheck?.[field];
          if (value !== undefined)
            assert.equal(value, dockerDuration(seconds(value)), `${registration.name}.healthcheck.${field}`);
        }
      }
    });
  }

  it("uploads the Redis config readable by the user the image's entrypoint switches to", async () => {
    const graph = new Graph((await mustRun("dev")).registrations);
    const uploads = reveal(graph.byRole("redis", container).inputs.uploads) as {
      file: string;
      permissions: string;
    }[];
    const config = uploads.find((upload) => upload.file.endsWith("redis.conf"));
    // Uploads are owned by root; the official image runs redis-server as `redis`.
    assert.equal(Number.parseInt(config?.permissions ?? "0", 8) & 0o004, 0o004);
  });
});

describe("program under mocks: ssh target", () => {
  it("points the docker provider at the VPS with the pinned host key and no trust-on-first-use", async () => {
    const run = await mustRun("production");
    const provider = new Graph(run.registrations).byRole("docker", "pulumi:providers:docker");
    const target = (readStackFile("production").values.target as { host: string }).host;
    assert.equal(provider.inputs.host, target);
    assert.ok(isSecretValue(provider.inputs.sshOpts));
    // Provider config reaches the engine JSON-encoded.
    const options = (JSON.parse(reveal(provider.inputs.sshOpts) as string) as string[]).join(" ");
    assert.match(options, /StrictHostKeyChecking=yes/);
    assert.match(options, /UserKnownHostsFile=\S+known_hosts/);
  });

  it("sets the generated password on the kept volume's role, by stdin, before anything connects", async () => {
    const graph = new Graph((await mustRun("production")).registrations);
    const setPassword = graph.byRole("postgres-password", "command:local:Command");
    const database = graph.byRole("postgres", container);
    assert.ok(setPassword.dependencies.includes(database.urn), "after the container");
    assert.ok(isSecretValue(setPassword.inputs.stdin), "the statement, with the password, is a secret");
    assert.doesNotMatch(String(reveal(setPassword.inputs.create)), /PASSWORD|ALTER ROLE/, "never in argv");
    for (const dependent of ["db-snapshot", "migrate-run"]) {
      const registration = graph.byRole(dependent);
      assert.ok(registration?.dependencies.includes(setPassword.urn), dependent);
    }
    const devGraph = new Graph((await mustRun("dev")).registrations);
    assert.ok(
      !devGraph.registrations.some(
        (r) => devGraph.roleOf(r) === "postgres-password" && r.type === "command:local:Command",
      ),
      "a dev volume goes with its password",
    );
  });

  it("writes the provider's key files first thing in a destroy: a resource every docker resource precedes", async () => {
    const graph = new Graph((await mustRun("production")).registrations);
    const keys = graph.byRole("docker-ssh-keys", "pulumi-nodejs:dynamic/switchyard:DockerSshKeys");
    assert.ok(isSecretValue(keys.inputs.privateKey), "the key is stored encrypted");
    const docker = graph.registrations.filter((r) => r.custom && r.type.startsWith("docker:"));
    assert.ok(docker.length > 0);
    assert.deepEqual(
      docker.filter((r) => !keys.dependencies.includes(r.urn)).map((r) => r.name),
      [],
      "a destroy would reach these before the key files exist",
    );
    const guard = graph.byRole("keep-data-outside-development", "pulumi:index:Stash");
    assert.ok(guard.dependencies.includes(keys.urn), "the guard still refuses before anything is deleted");
  });
});

describe("program under mocks: bad config fails before anything is registered", () => {
  const cases: {
    name: string;
    stack: StackName;
    key: RegExp;
    mutate?: (v: StackValues) => void;
    plain?: string[];
  }[] = [
    {
      name: "unknown slot",
      stack: "stage",
      key: /switchyard:activeSlot: expected one of "blue", "green"/,
      mutate: (v) => {
        v.activeSlot = "purple";
      },
    },
    {
      name: "port out of range",
      stack: "stage",
      key: /switchyard:app\.port: .*65535/,
      mutate: (v) => {
        (v.app as { port: number }).port = 70000;
      },
    },
    {
      name: "latest image in production",
      stack: "production",
      key: /switchyard:slots\.green\.image: uses the moving tag `latest`/,
      mutate: (v) => {
        slotsOf(v).green.image = "ghcr.io/acme/shop-api:latest";
      },
    },
    {
      name: "untagged image in production",
      stack: "production",
      key: /switchyard:database\.image: has no tag/,
      mutate: (v) => {
        (v.database as { image: string }).image = "postgres";
      },
    },
    {
      name: "missing ssh key",
      stack: "production",
      key: /switchyard:sshPrivateKey: required for ssh:\/\/ hosts/,
      mutate: (v) => void delete v.sshPrivateKey,
    },
    {
      name: "secret in plain text",
      stack: "production",
      key: /switchyard:tlsKey: holds a secret but is in plain text/,
      plain: ["tlsKey"],
    },
    {
      name: "malformed ssh target",
      stack: "stage",
      key: /switchyard:target\.host: unix:\/\/\/path\/to\/docker\.sock, or ssh:\/\/user@host\[:port\]/,
      mutate: (v) => {
        (v.target as { host: string }).host = "ssh://198.51.100.20";
      },
    },
    {
      name: "missing host key",
      stack: "stage",
      key: /switchyard:target\.hostKey: required for ssh:\/\/ hosts/,
      mutate: (v) => void delete (v.target as { hostKey?: string }).hostKey,
    },
    {
      name: "negative retention",
      stack: "stage",
      key: /switchyard:snapshots\.retention: .*>=1/,
      mutate: (v) => {
        (v.snapshots as { retention: number }).retention = -1;
      },
    },
    {
      name: "canary weight over 100",
      stack: "stage",
      key: /switchyard:router\.canaryWeight: .*<=100/,
      mutate: (v) => {
        (v.router as { canaryWeight: number }).canaryWeight = 150;
      },
    },
    {
      name: "misspelt key",
      stack: "stage",
      key: /switchyard:snapshot: unknown key/,
      mutate: (v) => {
        v.snapshot = { retention: 7 };
      },
    },
    {
      name: "secret in plain env",
      stack: "stage",
      key: /switchyard:app\.env\.STRIPE_SECRET_KEY: looks like a secret: put it in appSecrets/,
      mutate: (v) => {
        (v.app as { env: Record<string, string> }).env.STRIPE_SECRET_KEY = "sk_live_123";
      },
    },
    {
      name: "slot with both image and build",
      stack: "stage",
      key: /switchyard:slots\.blue\.image: set exactly one of `image`, `build` or `binary`/,
      mutate: (v) => {
        slotsOf(v).blue.build = "examples/demo-app";
      },
    },
    {
      name: "local build in production",
      stack: "production",
      key: /switchyard:slots\.blue\.build: production runs registry images only/,
      mutate: (v) => {
        slotsOf(v).blue = { build: "examples/demo-app", version: "1.0.0" };
      },
    },
    {
      name: "missing slot",
      stack: "stage",
      key: /switchyard:slots\.green: required/,
      mutate: (v) => void delete (v.slots as Record<string, unknown>).green,
    },
    {
      name: "same loopback port for both slots",
      stack: "stage",
      key: /switchyard:app\.loopbackPorts\.green: must differ/,
      mutate: (v) => {
        (v.app as Record<string, unknown>).loopbackPorts = { blue: 18081, green: 18081 };
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: names ${c.key.source.split(":")[1]}`, async () => {
      const run = await runProgram(c.stack, { mutate: c.mutate, plainKeys: c.plain });
      assert.ok(run.error, "the program must fail");
      assert.match(run.error.message, c.key);
      assert.equal(run.registrations.length, 0, "nothing is registered");
      for (const secretKey of ["sshPrivateKey", "tlsKey", "appSecrets.JWT_SECRET"]) {
        assert.ok(!run.error.message.includes(secretFor(secretKey).split("\n")[1] ?? secretFor(secretKey)));
      }
    });
  }

  it("reports every problem at once", async () => {
    const run = await runProgram("stage", {
      mutate: (v) => {
        v.activeSlot = "purple";
        (v.snapshots as { retention: number }).retention = 0;
      },
    });
    assert.match(run.error?.message ?? "", /activeSlot[\s\S]*snapshots\.retention/);
  });
});

describe("program under mocks: the caddy router", () => {
  it("runs Caddy's image on its boot configuration and switches through a CaddyUpstream with Caddy's site", async () => {
    const graph = new Graph(
      (
        await mustRun("dev", {
          mutate: (v) => void (v.router = { ...(v.router as object), kind: "caddy", image: "caddy:2.11" }),
        })
      ).registrations,
    );
    const router = reveal(graph.byRole("router", container).inputs) as Record<string, unknown>;
    assert.match((router.command as string[]).join(" "), /exec caddy run --config/);
    assert.deepEqual(
      (router.uploads as { file: string }[]).map((upload) => upload.file),
      [containerCaddy.bootConfig],
    );
    const upstream = reveal(graph.byRole("router-upstream", caddyUpstream).inputs) as Record<string, unknown>;
    assert.equal((upstream.server as { kind: string }).kind, "caddy");
    assert.deepEqual(Object.keys(upstream.files as object), [caddySiteFile]);
    assert.equal(upstream.stateDir, containerCaddy.stateDir);
    assert.equal(graph.registrations.filter((r) => r.type === nginxUpstream).length, 0);
  });
});
