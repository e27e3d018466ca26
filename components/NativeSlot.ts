import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, type SlotColour } from "../infra/config";
import type { ExecutorSpec } from "./providers/executor";
import { SystemdService } from "./providers/SystemdService";
import { pinRelease, type Slot, type SlotSettings, slotEnvironment } from "./slotRelease";

export interface NativeSlotArgs {
  colour: SlotColour;
  /** The unit's name without `.service` (`<deployment>-<colour>`). */
  unit: string;
  /** The binary to run, on this machine (`slots.<colour>.binary`, resolved). */
  binary: string;
  /** Version the app must report; also its APP_VERSION. */
  version: string;
  /** Bumped by the user to release the slot again with the current settings and the same binary. */
  rollout: number;
  /** The current shared settings; a native slot listens on the loopback port itself. */
  settings: SlotSettings;
  /** Secret environment: app secrets, DATABASE_URL, REDIS_URL (the data stores' loopback ports). */
  secretEnv: pulumi.Input<Record<string, string>>;
  /** `app.systemd`: the user the unit runs as, and where releases are kept. */
  systemd: { user: string; directory: string };
  /** How the slot's host is reached; a secret over SSH. */
  executor: pulumi.Input<ExecutorSpec>;
  /** Resources that must be done before this slot changes (the migration job). */
  after: pulumi.Input<pulumi.Resource>[];
}

/**
 * One colour of the app as a native binary under systemd (`<deployment>-<colour>.service`), as
 * Psychic Homily runs its Go API: no container, the same loopback port, gate and router as a
 * container slot. What it runs is pinned until it is released again: a new binary (by sha256), a
 * new version, or a bumped `rollout` (see `pinRelease`).
 */
export class NativeSlot extends pulumi.ComponentResource implements Slot {
  readonly colour: SlotColour;
  readonly version: string;
  readonly processName: string;
  readonly release: pulumi.Output<SlotSettings>;
  readonly upstream: pulumi.Output<string>;
  readonly loopbackUrl: pulumi.Output<string>;
  readonly process: SystemdService;
  readonly runs: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: NativeSlotArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:app:NativeSlot", name, {}, opts);
    this.colour = args.colour;
    this.version = args.version;
    this.processName = `${args.unit}.service`;
    const sha256 = fileSha256(args.binary, args.colour);

    const pinned = pinRelease(
      name,
      { settings: args.settings, secretEnv: pulumi.secret(args.secretEnv), systemd: args.systemd },
      { sha256, version: args.version, rollout: args.rollout },
      { colour: args.colour, process: this.processName },
      this,
    );
    this.release = pinned.settings;
    // Pinned with every native slot's release.
    const systemd = pinned.release.apply((release) => release.systemd as NativeSlotArgs["systemd"]);
    this.process = new SystemdService(
      name,
      {
        executor: args.executor,
        unit: args.unit,
        user: systemd.apply(({ user }) => user),
        directory: systemd.apply(({ directory }) => directory),
        version: args.version,
        sha256,
        binaryPath: args.binary,
        resources: this.release.apply((settings) => settings.resources),
        restartPolicy: this.release.apply((settings) => settings.restartPolicy),
        env: pinned.release.apply((release) =>
          slotEnvironment(args.colour, args.version, release, release.settings.loopbackPort),
        ),
      },
      { parent: this, dependsOn: args.after },
    );
    this.runs = { binary: this.process.sha256, invocation: this.process.invocationId };
    this.upstream = pinned.upstream;
    this.loopbackUrl = pinned.loopbackUrl;
    this.registerOutputs({
      unit: this.processName,
      version: this.version,
      upstream: this.upstream,
      loopbackUrl: this.loopbackUrl,
    });
  }
}

function fileSha256(file: string, colour: SlotColour): string {
  try {
    return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  } catch (error) {
    throw new Error(
      `${PROJECT}:slots.${colour}.binary: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}
