import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { acmeImage, PROJECT, routerImage, type SlotColour, slotColours } from "../infra/config";
import { hostNames, noWayOutNetworkOptions, roles } from "../infra/names";
import type { StackConfig } from "../infra/stackConfig";
import { Accessory } from "./Accessory";
import * as path from "node:path";
import { AppSlot } from "./AppSlot";
import { Cache } from "./Cache";
import { containerImage, type ImageSource, projectDirectory } from "./containers";
import { Database } from "./Database";
import { NativeSlot } from "./NativeSlot";
import type { Slot } from "./slotRelease";
import { writeDockerSshKeys } from "./providers/sshKeyFiles";
import { Frontend } from "./Frontend";
import { MigrationJob, migrationChecks, queriesBefore } from "./MigrationJob";
import { Worker } from "./Worker";
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
 *
 * Its name is the deployment's (`deployment`, or the stack's), and each child is named
 * `<name>-<role>` (see infra/names.ts). Before deployments had names the children were named by
 * their role alone; the aliases keep those stacks' resources, so upgrading replaces nothing.
 */
export class Deployment extends pulumi.ComponentResource {
  readonly database: Database;
  readonly cache?: Cache;
  /** The long-running services beside the app, by name; no release touches them. */
  readonly accessories: Record<string, Accessory>;
  /** Taken before the migration job whenever the migration set or its image changes. */
  readonly snapshot?: PgSnapshot;
  readonly migrations?: MigrationJob;
  readonly slots: Record<SlotColour, Slot>;
  /** One per slot: exists only once that slot is healthy, on its version, and stable. */
  readonly gates: Record<SlotColour, HealthGate>;
  readonly router: Router;
  /** The active slot's workers, by name, moved once the router's switch has held. */
  readonly workers: Record<string, Worker>;
  /** The Netlify frontend, deployed once the router's switch has held. */
  readonly frontend?: Frontend;

  constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:index:Deployment", name, {}, opts);
    // The steps are declared below the sequence that runs them, so they reach the component this way.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const { config } = args;
    const names = hostNames(config.deployment);
    const target = parseTarget(config.target);
    const executor = executorFor(target, config);
    const keepVolume = keepsData(config);
    const access = { target, sshPrivateKey: config.secrets.sshPrivateKey };

    const dockerProvider = createDockerProvider();
    const networks = createNetworks();
    this.database = createDatabase();
    this.cache = config.redis.enabled ? createCache() : undefined;
    this.accessories = createAccessories();
    if (config.migrations) {
      const image = createImage(roles.migrationImage, config.migrations, config.migrations.version);
      // The values the `unchanged` validations compare with, read with the snapshot.
      const before = queriesBefore(config.migrations.validations);
      this.snapshot = config.snapshots.skip ? undefined : createSnapshot(config.migrations, image, before);
      this.migrations = createMigration(config.migrations, image, before.length > 0);
    }
    this.slots = createSlots();
    this.gates = byColour((colour) =>
      // Under its slot, named after it: the slot's alias carries the gate's former name too.
      slotGate(`${childName(roles.slot(colour))}-gate`, this.slots[colour], config, executor),
    );
    this.router = createRouter();
    this.workers = createWorkers();
    this.frontend = config.frontend ? createFrontend(config.frontend) : undefined;

    this.registerOutputs({ routerUrl: this.router.url, frontendUrl: this.frontend?.url });

    function childName(role: string): string {
      return `${name}-${role}`;
    }

    /** The child of `role`; its alias is its name from before deployments had names, which keeps it in older stacks. */
    function childOpts(role: string): pulumi.ResourceOptions {
      return { parent: self, aliases: [{ name: role }] };
    }

    /** A Docker resource of `role`, or a component whose Docker resources go to the deployment's engine. */
    function onDocker(role: string): pulumi.CustomResourceOptions {
      return { ...childOpts(role), provider: dockerProvider };
    }

    function createDockerProvider(): docker.Provider {
      // Over SSH, one connection first: a wrong pinned host key or a refused key stops the run
      // before the Docker provider or any command reaches the VPS.
      const reachable =
        target.kind === "ssh"
          ? new TargetReachable(
              childName(roles.targetReachable),
              { executor },
              childOpts(roles.targetReachable),
            )
          : undefined;
      return new docker.Provider(
        childName(roles.dockerProvider),
        {
          host: dockerHost(target),
          sshOpts: target.kind === "ssh" ? dockerSshOptions(target, config) : undefined,
        },
        { ...childOpts(roles.dockerProvider), dependsOn: reachable ? [reachable] : [] },
      );
    }

    function createNetworks() {
      // Database and cache sit on an internal network with no route out and no published port.
      const privateNetwork = new docker.Network(
        childName(roles.privateNetwork),
        { name: names.privateNetwork, internal: true, driver: "bridge" },
        onDocker(roles.privateNetwork),
      );
      // The slots' way out (calls to other services); the router reaches them on loopback ports.
      const edgeNetwork = new docker.Network(
        childName(roles.edgeNetwork),
        { name: names.edgeNetwork, driver: "bridge" },
        onDocker(roles.edgeNetwork),
      );
      // Native slots run outside Docker, so the data stores also publish a loopback port, which
      // Docker does only from a network that is not internal: this one routes nothing out.
      const nativeNetwork =
        config.app.runtime === "systemd"
          ? new docker.Network(
              childName(roles.nativeNetwork),
              { name: names.nativeNetwork, driver: "bridge", options: noWayOutNetworkOptions },
              onDocker(roles.nativeNetwork),
            )
          : undefined;
      return { private: privateNetwork.name, edge: edgeNetwork.name, native: nativeNetwork?.name };
    }

    /** Where a data store is also published for native slots, when it is. */
    function loopbackAccess(port: number | undefined) {
      return port === undefined || networks.native === undefined
        ? undefined
        : { port, network: networks.native };
    }

    function createDatabase(): Database {
      return new Database(
        childName(roles.database),
        {
          ...config.database,
          ...access,
          containerName: names.database,
          volume: config.database.volume ?? names.databaseVolume,
          network: networks.private,
          loopback: loopbackAccess(config.database.loopbackPort),
          keepVolume,
        },
        onDocker(roles.database),
      );
    }

    function createCache(): Cache {
      return new Cache(
        childName(roles.cache),
        {
          containerName: names.cache,
          image: config.redis.image,
          volume: config.redis.volume === undefined ? names.cacheVolume : config.redis.volume,
          keepVolume,
          resources: config.redis.resources,
          network: networks.private,
          loopback: loopbackAccess(config.redis.loopbackPort),
        },
        onDocker(roles.cache),
      );
    }

    function createAccessories(): Record<string, Accessory> {
      return byName(
        config.accessories,
        (accessory, spec) =>
          new Accessory(
            childName(roles.accessory(accessory)),
            {
              containerName: names.accessory(accessory),
              hostName: accessory,
              spec,
              secretEnv: config.secrets.accessoryEnv[accessory],
              network: networks[spec.network],
              volumeNames: Object.fromEntries(
                Object.keys(spec.volumes).map((volume) => [volume, names.accessoryVolume(accessory, volume)]),
              ),
              keepVolumes: keepVolume,
            },
            onDocker(roles.accessory(accessory)),
          ),
      );
    }

    /** The image of `role`, pulled, or built and tagged `<version>` in the deployment's own repository. */
    function createImage(role: string, source: ImageSource, version: string): pulumi.Output<string> {
      return containerImage(childName(role), source, onDocker(role), {
        repository: names.builtImage(role),
        tag: version,
      });
    }

    // `snapshots.skip` is for emergencies outside production; the policy pack refuses it there.
    function createSnapshot(
      migrations: NonNullable<StackConfig["migrations"]>,
      image: pulumi.Output<string>,
      before: string[],
    ): PgSnapshot {
      return new PgSnapshot(
        childName(roles.snapshot),
        {
          executor,
          project: PROJECT,
          stack: config.stack,
          directory: config.snapshots.directory,
          retention: config.snapshots.retention,
          ...containerAccess(dockerCommand(target), self.database.host, config.database),
          password: self.database.password,
          migrationSet: migrations.version,
          image,
          // Only when there are some: a snapshot resource from before validations stays as it is.
          validationQueries: before.length > 0 ? before : undefined,
        },
        { ...childOpts(roles.snapshot), dependsOn: [self.database.ready] },
      );
    }

    function createMigration(
      migrations: NonNullable<StackConfig["migrations"]>,
      image: pulumi.Output<string>,
      checksReadBefore: boolean,
    ): MigrationJob {
      return new MigrationJob(
        childName(roles.migration),
        {
          ...access,
          containerName: names.migration,
          image,
          command: migrations.command,
          version: migrations.version,
          network: networks.private,
          databaseUrl: self.database.connectionUrl,
          after: self.snapshot ? [self.database.ready, self.snapshot] : [self.database.ready],
          // The snapshot's values only when a check needs them: in a preview an output its state
          // lacks is unknown, and would show this job as changing.
          checks: checksReadBefore
            ? pulumi
                .output(self.snapshot?.valuesBefore)
                .apply((valuesBefore) => migrationChecks(migrations.validations, valuesBefore ?? []))
            : migrationChecks(migrations.validations, []),
          database: { containerName: names.database, user: config.database.user, name: config.database.name },
        },
        onDocker(roles.migration),
      );
    }

    function createSlots(): Record<SlotColour, Slot> {
      // The first release starts once its accessories are up (healthy, when they have a check).
      const after: pulumi.Resource[] = [
        self.migrations ?? self.database.ready,
        ...Object.values(self.accessories).map((accessory) => accessory.container),
      ];
      const settings = (colour: SlotColour) => ({
        port: config.app.port,
        env: config.app.env,
        resources: config.app.resources,
        user: config.app.user,
        restartPolicy: config.app.restartPolicy,
        command: config.app.command,
        loopbackPort: config.app.loopbackPorts[colour],
        health: config.health,
      });
      const runtime = config.app.runtime;
      switch (runtime) {
        case "container": {
          const secretEnv = slotSecretEnv(self.database.connectionUrl, self.cache?.connectionUrl);
          return byColour((colour) => {
            const spec = config.slots[colour];
            return new AppSlot(
              childName(roles.slot(colour)),
              {
                colour,
                containerName: names.slots[colour],
                image: createImage(roles.slotImage(colour), spec, spec.version),
                version: spec.version,
                rollout: spec.rollout,
                settings: settings(colour),
                secretEnv,
                networks,
                after,
              },
              onDocker(roles.slot(colour)),
            );
          });
        }
        case "systemd": {
          const secretEnv = slotSecretEnv(
            self.database.loopbackConnectionUrl,
            self.cache?.loopbackConnectionUrl,
          );
          return byColour((colour) => {
            const spec = config.slots[colour];
            if (spec.binary === undefined)
              throw new Error(`slots.${colour}.binary: required with app.runtime systemd`);
            return new NativeSlot(
              childName(roles.slot(colour)),
              {
                colour,
                unit: names.units[colour],
                binary: path.resolve(projectDirectory, spec.binary),
                version: spec.version,
                rollout: spec.rollout,
                settings: settings(colour),
                secretEnv,
                systemd: config.app.systemd,
                executor,
                after,
              },
              childOpts(roles.slot(colour)),
            );
          });
        }
        default:
          return unknownRuntime(runtime);
      }
    }

    /** What every slot gets beside `appSecrets`: the data stores' URLs, as its runtime reaches them. */
    function slotSecretEnv(
      databaseUrl: pulumi.Output<string> | undefined,
      redisUrl: pulumi.Output<string> | undefined,
    ): pulumi.Output<Record<string, string>> {
      return pulumi.secret(
        pulumi
          .all([config.secrets.appEnv, databaseUrl, redisUrl])
          .apply(([appEnv, database, redis]): Record<string, string> => ({
            ...appEnv,
            ...(database === undefined ? {} : { DATABASE_URL: database }),
            ...(redis === undefined ? {} : { REDIS_URL: redis }),
          })),
      );
    }

    function createRouter(): Router {
      return new Router(
        childName(roles.router),
        {
          target,
          executor,
          containerName: names.router,
          stateVolume: names.routerState,
          ...config.router,
          image: routerImage(config.router),
          health: config.health,
          activeSlot: config.activeSlot,
          slots: self.slots,
          tls: config.secrets.tls,
          ...(config.router.tls.acme && {
            acme: {
              ...config.router.tls.acme,
              image: acmeImage(config.router.tls.acme),
              names: config.router.serverName.split(" "),
              containerName: names.acmeClient,
            },
          }),
          // Traffic goes only to slots whose gate holds for their current image and version; with a
          // canary weight, both slots get traffic.
          after:
            config.router.canaryWeight > 0
              ? slotColours.map((colour) => self.gates[colour])
              : [self.gates[config.activeSlot]],
        },
        onDocker(roles.router),
      );
    }

    function createWorkers(): Record<string, Worker> {
      const slot = self.slots[config.activeSlot];
      // Workers run a container slot's image; the config refuses them beside native slots.
      if (!(slot instanceof AppSlot)) return {};
      return byName(
        config.workers,
        (worker, spec) =>
          new Worker(
            childName(roles.worker(worker)),
            {
              ...access,
              containerName: names.worker(worker),
              worker,
              spec,
              slot,
              networks,
              after: [self.router.upstream],
            },
            onDocker(roles.worker(worker)),
          ),
      );
    }

    function createFrontend(settings: NonNullable<StackConfig["frontend"]>): Frontend {
      return new Frontend(
        childName(roles.frontend),
        {
          settings,
          token: config.secrets.netlifyToken,
          apiUrl: self.router.url,
          backendVersion: config.slots[config.activeSlot].version,
          stack: config.stack,
          // The switch resource holds the post-switch window before it is done.
          after: [self.router.upstream],
        },
        childOpts(roles.frontend),
      );
    }
  }
}

/** A dev stack is torn down and rebuilt freely; anywhere else the data must not be planned away. */
export function keepsData(config: Pick<StackConfig, "environment">): boolean {
  return config.environment !== "development";
}

function unknownRuntime(runtime: never): never {
  throw new Error(`app.runtime: no slot runs as ${String(runtime)}`);
}

/** One `T` per entry of a config section keyed by name (`accessories`, `workers`). */
function byName<Spec, T>(
  specs: Record<string, Spec>,
  make: (name: string, spec: Spec) => T,
): Record<string, T> {
  return Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, make(name, spec)]));
}

function byColour<T>(make: (colour: SlotColour) => T): Record<SlotColour, T> {
  return Object.fromEntries(slotColours.map((colour) => [colour, make(colour)])) as Record<SlotColour, T>;
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
function slotGate(
  name: string,
  slot: Slot,
  config: StackConfig,
  executor: pulumi.Output<ExecutorSpec>,
): HealthGate {
  return new HealthGate(
    name,
    {
      executor,
      host: "127.0.0.1",
      port: slot.release.apply((settings) => settings.loopbackPort),
      path: slot.release.apply((settings) => settings.health.path),
      expectedVersion: slot.version,
      ...gateSettings(config.health, config.health.stableForSeconds),
      guards: { ...slot.runs, version: slot.version },
    },
    { parent: slot, dependsOn: [slot.process] },
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
