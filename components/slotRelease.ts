/**
 * What a slot runs, pinned until the slot is released again, whatever runs it (a container or a
 * systemd unit).
 */
import * as pulumi from "@pulumi/pulumi";
import type { SlotColour } from "../infra/config";
import type { ContainerResources } from "./containers";

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

export interface Release {
  settings: SlotSettings;
  secretEnv: Record<string, string>;
  /**
   * `imageOverrides(settings)`, a container slot's label. Pinned with the release: a release pinned
   * before the label existed has none, so upgrading switchyard replaces no running slot.
   */
  overrides?: string;
  /** `app.systemd`, a native slot's user and directory: pinned like the settings, so a change waits for a release. */
  systemd?: { user: string; directory: string };
}

export interface PinnedRelease {
  /** What the slot runs, as pinned at its last release; a secret. */
  release: pulumi.Output<Release>;
  settings: pulumi.Output<SlotSettings>;
  /** `127.0.0.1:<loopback port>` and `http://127.0.0.1:<loopback port>` of the release: see `Slot`. */
  upstream: pulumi.Output<string>;
  loopbackUrl: pulumi.Output<string>;
}

/**
 * Pins `wanted` in a `Stash` that is replaced only when `trigger` changes (what the slot runs, its
 * version, a bumped `rollout`). A change to shared settings or secrets therefore never restarts a
 * running slot as a side effect: it goes out with the next release of the idle slot, and reaches
 * the active one only when the user releases that slot too. `process` names the slot in the
 * message that says which settings wait.
 */
export function pinRelease(
  name: string,
  wanted: Omit<Release, "secretEnv"> & { secretEnv: pulumi.Input<Record<string, string>> },
  trigger: pulumi.Input<object>,
  slot: { colour: SlotColour; process: string },
  parent: pulumi.Resource,
): PinnedRelease {
  const stash = new pulumi.Stash(
    `${name}-release`,
    { input: wanted },
    { parent, replacementTrigger: trigger },
  );
  const release = stash.output as pulumi.Output<Release>;
  // A preview shows no diff for settings that wait for the next release, so say so.
  pulumi.all([stash.input as pulumi.Output<Release>, release]).apply(([current, released]) => {
    const waiting = unreleasedSettings(released, current);
    if (waiting.length === 0) return;
    pulumi.log.info(
      `${slot.process} keeps running its last release; the new ${waiting.join(", ")} ${waiting.length === 1 ? "reaches" : "reach"} it ` +
        `when it is released again (a new image, binary or version, or bump slots.${slot.colour}.rollout)`,
      parent,
    );
  });
  const port = release.apply((pinned) => pinned.settings.loopbackPort);
  return {
    release,
    settings: release.apply((pinned) => pinned.settings),
    upstream: pulumi.interpolate`127.0.0.1:${port}`,
    loopbackUrl: pulumi.interpolate`http://127.0.0.1:${port}`,
  };
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
  if (JSON.stringify(released.systemd) !== JSON.stringify(wanted.systemd)) changed.push("app.systemd");
  // Secrets are compared, never named by value.
  if (JSON.stringify(released.secretEnv) !== JSON.stringify(wanted.secretEnv)) changed.push("secrets");
  return changed;
}

/** The slot's environment: its identity, the pinned shared env and secrets, and the port it listens on. */
export function slotEnvironment(
  colour: SlotColour,
  version: string,
  release: Release,
  port: number,
): Record<string, string> {
  const env: Record<string, string> = {
    ...release.settings.env,
    ...release.secretEnv,
    APP_VERSION: version,
    SLOT: colour,
    PORT: String(port),
  };
  return Object.fromEntries(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
}

/** What the router, the gates and the deployment need of a slot, whatever runs it. */
export interface Slot extends pulumi.ComponentResource {
  readonly colour: SlotColour;
  readonly version: string;
  /** What an operator knows it by: its container (`app-blue`) or its unit (`ph-stage-blue.service`). */
  readonly processName: string;
  /** The settings this slot actually runs with (from its last release). */
  readonly release: pulumi.Output<SlotSettings>;
  /** `127.0.0.1:<loopback port>`: where the router reaches the slot (see Router.ts). */
  readonly upstream: pulumi.Output<string>;
  /** `http://127.0.0.1:<port>`: where health gates on the target reach the slot. */
  readonly loopbackUrl: pulumi.Output<string>;
  /** The resource that runs the slot: its gate and the router wait for it. */
  readonly process: pulumi.Resource;
  /** What its gate judged: when any of these change, the slot is judged again. */
  readonly runs: Record<string, pulumi.Output<string>>;
}
