import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { SlotColour } from "../infra/config";
import { dockerDuration } from "../infra/dockerReadBack";
import { type ContainerResources, containerLimits, type NamedContainer } from "./containers";
import { shellQuote } from "./target";

/** The shared settings a slot runs with. A slot takes them up only when it is released. */
export interface SlotSettings {
  port: number;
  env: Record<string, string>;
  resources: ContainerResources;
  /** `user[:group]`, or `null` for the image's own user. */
  user: string | null;
  restartPolicy: string;
  command?: string[];
  /** Host port on 127.0.0.1 where the router and the health gates reach this slot. */
  loopbackPort: number;
  health: {
    path: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    retries: number;
    startPeriodSeconds: number;
    /** Whether a degraded (206) slot may take traffic: Docker's healthcheck agrees with the gate. */
    allowDegraded: boolean;
  };
}

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

interface Release {
  settings: SlotSettings;
  secretEnv: Record<string, string>;
  /**
   * `imageOverrides(settings)`, the container's label. Pinned with the release: a release pinned
   * before the label existed has none, so upgrading switchyard replaces no running slot.
   */
  overrides?: string;
}

/**
 * One colour of the app: a container on both networks, under its name there (`app-blue`).
 *
 * What the slot runs is pinned in a `Stash` that is replaced only when the slot is released
 * (new image, new version, or a bumped `rollout`). A change to shared settings or secrets
 * therefore never restarts a running slot as a side effect: it goes out with the next release
 * of the idle slot, and reaches the active one only when the user releases that slot too.
 */
export class AppSlot extends pulumi.ComponentResource {
  readonly colour: SlotColour;
  readonly version: string;
  readonly containerName: string;
  readonly container: docker.Container;
  /** The settings this slot actually runs with (from its last release). */
  readonly release: pulumi.Output<SlotSettings>;
  /** The environment it runs with (from its last release), `NAME=value`; a secret. */
  readonly env: pulumi.Output<string[]>;
  /** `127.0.0.1:<loopback port>`: where the router reaches the slot (see Router.ts). */
  readonly upstream: pulumi.Output<string>;
  /** `http://127.0.0.1:<port>`: where health gates on the target reach the slot. */
  readonly loopbackUrl: pulumi.Output<string>;

  constructor(name: string, args: AppSlotArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:app:AppSlot", name, {}, opts);
    this.colour = args.colour;
    this.version = args.version;
    this.containerName = args.containerName;

    const stash = new pulumi.Stash(
      `${name}-release`,
      {
        input: {
          settings: args.settings,
          secretEnv: pulumi.secret(args.secretEnv),
          overrides: imageOverrides(args.settings),
        },
      },
      {
        parent: this,
        replacementTrigger: pulumi
          .output(args.image)
          .apply((image) => ({ image, version: args.version, rollout: args.rollout })),
      },
    );
    const pinned = stash.output as pulumi.Output<Release>;
    this.release = pinned.apply((release) => release.settings);
    // A preview shows no diff for settings that wait for the next release, so say so.
    pulumi.all([stash.input as pulumi.Output<Release>, pinned]).apply(([wanted, released]) => {
      const waiting = unreleasedSettings(released, wanted);
      if (waiting.length === 0) return;
      pulumi.log.info(
        `${this.containerName} keeps running its last release; the new ${waiting.join(", ")} ${waiting.length === 1 ? "reaches" : "reach"} it ` +
          `when it is released again (new image or version, or bump slots.${args.colour}.rollout)`,
        this,
      );
    });

    this.env = pulumi.secret(pinned.apply((release) => slotEnv(args.colour, args.version, release)));
    this.container = new docker.Container(
      name,
      {
        name: this.containerName,
        image: args.image,
        envs: this.env,
        command: this.release.apply((settings) => settings.command),
        user: this.release.apply((settings) => settings.user ?? undefined),
        labels: pinned.apply(({ overrides }) =>
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

    this.upstream = this.release.apply((settings) => `127.0.0.1:${settings.loopbackPort}`);
    this.loopbackUrl = this.release.apply((settings) => `http://127.0.0.1:${settings.loopbackPort}`);
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

/** The config key of each shared setting a slot pins, as the user sets it. */
const settingKeys: Record<keyof SlotSettings, string> = {
  port: "app.port",
  env: "app.env",
  resources: "app.resources",
  user: "app.user",
  restartPolicy: "app.restartPolicy",
  command: "app.command",
  loopbackPort: "app.loopbackPorts",
  health: "health",
};

/** Config keys of the shared settings that differ between a slot's release and the current config. */
export function unreleasedSettings(released: Release, wanted: Release): string[] {
  const names = Object.keys({ ...released.settings, ...wanted.settings }) as (keyof SlotSettings)[];
  const changed = names
    .filter((name) => JSON.stringify(released.settings[name]) !== JSON.stringify(wanted.settings[name]))
    .map((name) => settingKeys[name]);
  // Secrets are compared, never named by value.
  if (JSON.stringify(released.secretEnv) !== JSON.stringify(wanted.secretEnv)) changed.push("secrets");
  return changed;
}

/** The slot's environment: its identity, the pinned shared env and secrets. */
export function slotEnv(colour: SlotColour, version: string, release: Release): string[] {
  const env: Record<string, string> = {
    ...release.settings.env,
    ...release.secretEnv,
    APP_VERSION: version,
    SLOT: colour,
    PORT: String(release.settings.port),
  };
  return Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`);
}
