import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, type SlotColour, slotColours } from "../infra/config";
import type { StackConfig } from "../infra/stackConfig";
import { AppSlot } from "./AppSlot";
import { Cache } from "./Cache";
import { containerImage } from "./containers";
import { Database } from "./Database";
import { writeDockerSshKeys } from "./providers/sshKeyFiles";
import { Frontend } from "./Frontend";
import { MigrationJob } from "./MigrationJob";
import { executorSpecFor, type ExecutorSpec } from "./providers/executor";
import { gateSettings } from "./providers/healthGate";
import { HealthGate } from "./providers/HealthGateResource";
import { TargetReachable } from "./providers/TargetReachable";
import { PgSnapshot } from "./providers/PgSnapshot";
import { containerAccess } from "./providers/snapshotStore";
import { Router } from "./Router";
import { dockerCommand, dockerHost, parseTarget, type Target } from "./target";

export interface DeploymentArgs {
  /** The validated stack config (`loadStackConfig`). */
  config: StackConfig;
}

/**
 * Everything one stack runs, wired in the order that makes a release safe:
 * database (and cache) -> migration job -> slots -> router.
 */
export class Deployment extends pulumi.ComponentResource {
  readonly database: Database;
  readonly cache?: Cache;
  /** Taken before the migration job whenever the migration set or its image changes. */
  readonly snapshot?: PgSnapshot;
  readonly migrations?: MigrationJob;
  readonly slots: Record<SlotColour, AppSlot>;
  /** One per slot: exists only once that slot is healthy, on its version, and stable. */
  readonly gates: Record<SlotColour, HealthGate>;
  readonly router: Router;
  /** The Netlify frontend, deployed once the router's switch has held. */
  readonly frontend?: Frontend;

  constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:index:Deployment", name, {}, opts);
    const { config } = args;
    const target = parseTarget(config.target);
    const executor = executorFor(target, config);
    // Over SSH, one connection first: a wrong pinned host key or a refused key stops the run
    // before the Docker provider or any command reaches the VPS.
    const reachable =
      target.kind === "ssh"
        ? new TargetReachable("target-reachable", { executor }, { parent: this })
        : undefined;
    const dockerProvider = new docker.Provider(
      "docker",
      {
        host: dockerHost(target),
        sshOpts: target.kind === "ssh" ? dockerSshOptions(target, config) : undefined,
      },
      { parent: this, dependsOn: reachable ? [reachable] : [] },
    );
    const child = { parent: this, providers: { docker: dockerProvider } };
    const childResource = { parent: this, provider: dockerProvider };

    // Database and cache sit on an internal network with no route out and no published port.
    const privateNetwork = new docker.Network(
      "private",
      { name: "switchyard-private", internal: true, driver: "bridge" },
      childResource,
    );
    // The slots' way out (calls to other services); the router reaches them on loopback ports.
    const edgeNetwork = new docker.Network(
      "edge",
      { name: "switchyard-edge", driver: "bridge" },
      childResource,
    );

    // A dev stack is torn down and rebuilt freely; anywhere else the data must not be planned away.
    const keepVolume = config.environment !== "development";
    this.database = new Database(
      "postgres",
      {
        ...config.database,
        network: privateNetwork.name,
        keepVolume,
        target,
        sshPrivateKey: config.secrets.sshPrivateKey,
      },
      child,
    );
    if (config.redis.enabled) {
      this.cache = new Cache(
        "redis",
        {
          image: config.redis.image,
          volume: config.redis.volume,
          keepVolume,
          resources: config.redis.resources,
          network: privateNetwork.name,
        },
        child,
      );
    }

    if (config.migrations) {
      const migrationImage = containerImage(
        "migrate-image",
        config.migrations,
        config.migrations.version,
        childResource,
      );
      // `snapshots.skip` is for emergencies outside production; the policy pack refuses it there.
      this.snapshot = config.snapshots.skip
        ? undefined
        : new PgSnapshot(
            "db-snapshot",
            {
              executor,
              project: PROJECT,
              stack: config.stack,
              directory: config.snapshots.directory,
              retention: config.snapshots.retention,
              ...containerAccess(dockerCommand(target), this.database.host, config.database),
              password: this.database.password,
              migrationSet: config.migrations.version,
              image: migrationImage,
            },
            { parent: this, dependsOn: [this.database.ready] },
          );
      this.migrations = new MigrationJob(
        "migrate",
        {
          target,
          sshPrivateKey: config.secrets.sshPrivateKey,
          image: migrationImage,
          command: config.migrations.command,
          version: config.migrations.version,
          network: privateNetwork.name,
          databaseUrl: this.database.connectionUrl,
          after: this.snapshot ? [this.database.ready, this.snapshot] : [this.database.ready],
        },
        child,
      );
    }

    const secretEnv = pulumi.secret(
      pulumi
        .all([config.secrets.appEnv, this.database.connectionUrl, this.cache?.connectionUrl])
        .apply(([appEnv, databaseUrl, redisUrl]) => ({
          ...appEnv,
          DATABASE_URL: databaseUrl,
          ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
        })),
    );
    const slotAfter: pulumi.Resource[] = this.migrations ? [this.migrations] : [this.database.ready];
    this.slots = Object.fromEntries(
      slotColours.map((colour) => {
        const spec = config.slots[colour];
        return [
          colour,
          new AppSlot(
            `app-${colour}`,
            {
              colour,
              image: containerImage(`app-${colour}-image`, spec, spec.version, childResource),
              version: spec.version,
              rollout: spec.rollout,
              settings: {
                port: config.app.port,
                env: config.app.env,
                resources: config.app.resources,
                user: config.app.user,
                restartPolicy: config.app.restartPolicy,
                command: config.app.command,
                loopbackPort: config.app.loopbackPorts[colour],
                health: config.health,
              },
              secretEnv,
              networks: { private: privateNetwork.name, edge: edgeNetwork.name },
              after: slotAfter,
            },
            child,
          ),
        ];
      }),
    ) as Record<SlotColour, AppSlot>;

    this.gates = Object.fromEntries(
      slotColours.map((colour) => [colour, slotGate(this.slots[colour], config, executor)]),
    ) as Record<SlotColour, HealthGate>;

    this.router = new Router(
      "router",
      {
        target,
        executor,
        ...config.router,
        health: config.health,
        activeSlot: config.activeSlot,
        slots: this.slots,
        tls: config.secrets.tls,
        // Traffic goes only to slots whose gate holds for their current image and version; with a
        // canary weight, both slots get traffic.
        after:
          config.router.canaryWeight > 0
            ? slotColours.map((colour) => this.gates[colour])
            : [this.gates[config.activeSlot]],
      },
      child,
    );

    if (config.frontend) {
      this.frontend = new Frontend(
        "frontend",
        {
          settings: config.frontend,
          token: config.secrets.netlifyToken,
          apiUrl: this.router.url,
          backendVersion: config.slots[config.activeSlot].version,
          stack: config.stack,
          // The switch resource holds the post-switch window before it is done.
          after: [this.router.upstream],
        },
        { parent: this },
      );
    }

    this.registerOutputs({ routerUrl: this.router.url, frontendUrl: this.frontend?.url });
  }
}

/** How dynamic providers reach the target; a secret, since over ssh it holds the key. */
function executorFor(target: Target, config: StackConfig): pulumi.Output<ExecutorSpec> {
  if (target.kind === "local") return pulumi.output(executorSpecFor(target));
  if (!config.secrets.sshPrivateKey) throw new Error("an ssh:// target needs sshPrivateKey");
  return pulumi.secret(config.secrets.sshPrivateKey.apply((key) => executorSpecFor(target, key)));
}

/**
 * The gate of one slot: it reaches the slot's loopback port on the target, with the port and
 * health path of the release the container really runs, and is replaced whenever the slot's
 * image, container or version changes.
 */
function slotGate(slot: AppSlot, config: StackConfig, executor: pulumi.Output<ExecutorSpec>): HealthGate {
  return new HealthGate(
    `${slot.containerName}-gate`,
    {
      executor,
      host: "127.0.0.1",
      port: slot.release.apply((settings) => settings.loopbackPort),
      path: slot.release.apply((settings) => settings.health.path),
      expectedVersion: slot.version,
      ...gateSettings(config.health, config.health.stableForSeconds),
      guards: { image: slot.container.image, container: slot.container.id, version: slot.version },
    },
    { parent: slot, dependsOn: [slot.container] },
  );
}

/** ssh options for the docker provider, over key files written for this command. */
function dockerSshOptions(
  target: Extract<Target, { kind: "ssh" }>,
  config: StackConfig,
): pulumi.Output<string[]> {
  if (!config.secrets.sshPrivateKey) throw new Error("an ssh:// target needs sshPrivateKey");
  return config.secrets.sshPrivateKey.apply((key) => writeDockerSshKeys(target, config.stack, key));
}
