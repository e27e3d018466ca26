import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { SlotColour } from "../infra/config";
import { dockerDuration } from "../infra/dockerReadBack";
import { containerLimits, type NamedContainer } from "./containers";
import { pinRelease, type Slot, type SlotSettings, slotEnvironment } from "./slotRelease";
import { shellQuote } from "./target";

export interface AppSlotArgs extends NamedContainer {
  colour: SlotColour;
  /** Image id to run (from `containerImage`). */
  image: pulumi.Input<string>;
  /** Version the app must report; also its APP_VERSION. */
  version: string;
  /** Bumped by the user to release the slot again with the current settings and the same image. */
  rollout: number;
  /** The current shared settings; see `SlotSettings`. */
  settings: SlotSettings;
  /** Secret environment: app secrets, DATABASE_URL, REDIS_URL. */
  secretEnv: pulumi.Input<Record<string, string>>;
  /** The private network (database, cache) and the edge network (the way out). */
  networks: { private: pulumi.Input<string>; edge: pulumi.Input<string> };
  /** Resources that must be done before this slot changes (the migration job). */
  after: pulumi.Input<pulumi.Resource>[];
}

/**
 * One colour of the app: a container on both networks, under its name there (`app-blue`).
 *
 * What the slot runs is pinned until it is released again: a new image, a new version, or a
 * bumped `rollout` (see `pinRelease`).
 */
export class AppSlot extends pulumi.ComponentResource implements Slot {
  readonly colour: SlotColour;
  readonly version: string;
  readonly containerName: string;
  readonly processName: string;
  readonly container: docker.Container;
  readonly process: docker.Container;
  readonly runs: Record<string, pulumi.Output<string>>;
  readonly release: pulumi.Output<SlotSettings>;
  /** The environment it runs with (from its last release), `NAME=value`; a secret. */
  readonly env: pulumi.Output<string[]>;
  readonly upstream: pulumi.Output<string>;
  readonly loopbackUrl: pulumi.Output<string>;

  constructor(name: string, args: AppSlotArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:app:AppSlot", name, {}, opts);
    this.colour = args.colour;
    this.version = args.version;
    this.containerName = args.containerName;
    this.processName = args.containerName;

    const pinned = pinRelease(
      name,
      {
        settings: args.settings,
        secretEnv: pulumi.secret(args.secretEnv),
        overrides: imageOverrides(args.settings),
      },
      pulumi.output(args.image).apply((image) => ({ image, version: args.version, rollout: args.rollout })),
      { colour: args.colour, process: this.containerName },
      this,
    );
    this.release = pinned.settings;
    this.env = pulumi.secret(
      pinned.release.apply((release) =>
        Object.entries(slotEnvironment(args.colour, args.version, release, release.settings.port)).map(
          ([key, value]) => `${key}=${value}`,
        ),
      ),
    );
    this.container = new docker.Container(
      name,
      {
        name: this.containerName,
        image: args.image,
        envs: this.env,
        command: this.release.apply((settings) => settings.command),
        user: this.release.apply((settings) => settings.user ?? undefined),
        labels: pinned.release.apply(({ overrides }) =>
          overrides === undefined ? undefined : [{ label: overridesLabel, value: overrides }],
        ),
        ports: this.release.apply((settings) => [
          { internal: settings.port, external: settings.loopbackPort, ip: "127.0.0.1" },
        ]),
        networksAdvanced: [
          { name: args.networks.private, aliases: [this.containerName] },
          { name: args.networks.edge, aliases: [this.containerName] },
        ],
        healthcheck: this.release.apply(({ port, health }) => ({
          tests: [
            "CMD-SHELL",
            healthcheckScript(`http://127.0.0.1:${port}${health.path}`, health.allowDegraded),
          ],
          interval: dockerDuration(health.intervalSeconds),
          timeout: dockerDuration(health.timeoutSeconds),
          retries: health.retries,
          startPeriod: dockerDuration(health.startPeriodSeconds),
        })),
        memory: this.release.apply((settings) => containerLimits(settings.resources).memory),
        memorySwap: this.release.apply((settings) => containerLimits(settings.resources).memorySwap),
        cpus: this.release.apply((settings) => containerLimits(settings.resources).cpus),
        restart: this.release.apply((settings) => settings.restartPolicy),
        // Time for in-flight requests to finish after SIGTERM.
        destroyGraceSeconds: 30,
        stopTimeout: 30,
      },
      // The container name is fixed (operators run `docker logs app-green`), so the old one goes first.
      { parent: this, deleteBeforeReplace: true, dependsOn: args.after },
    );

    this.process = this.container;
    // The gate's guards of a container slot, named as they always were: renaming them would replace every gate.
    this.runs = { image: this.container.image, container: this.container.id };
    this.upstream = pinned.upstream;
    this.loopbackUrl = pinned.loopbackUrl;
    this.registerOutputs({
      containerName: this.containerName,
      version: this.version,
      upstream: this.upstream,
      loopbackUrl: this.loopbackUrl,
    });
  }
}

/**
 * The container's own healthcheck, judging status codes as the gate does: any 2xx is healthy but
 * 206, which is degraded and healthy only where degraded slots may take traffic. (`curl -f` alone
 * passes a 206 and every 3xx and 4xx below 400; the body is the gate's to read.)
 */
export function healthcheckScript(url: string, allowDegraded: boolean): string {
  return [
    `code=$(curl -s -o /dev/null -w '%{http_code}' ${shellQuote(url)})`,
    `case "$code" in 206) exit ${allowDegraded ? 0 : 1} ;; 2??) exit 0 ;; *) exit 1 ;; esac`,
  ].join("; ");
}

/** The label that names what a slot overrides of its image. */
export const overridesLabel = "switchyard.overrides";

/**
 * The command and user the slot runs instead of its image's (null: the image's own), as a label.
 * Docker's provider keeps a container's command and user as read back when those inputs go away,
 * so taking an override back would change nothing and the slot would keep the old command; a
 * changed label replaces the container, which then starts with its image's own.
 */
export function imageOverrides(settings: Pick<SlotSettings, "command" | "user">): string {
  return JSON.stringify({ command: settings.command ?? null, user: settings.user ?? null });
}
