import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type ParsedStackConfig, workerEnvName } from "../infra/config";
import type { AppSlot } from "./AppSlot";
import { awaitedHealthcheck, containerLimits, type NamedContainer } from "./containers";
import { dockerCommand } from "./target";
import { type TargetAccess, targetCommand } from "./targetCommand";

/** One worker as the stack config declares it (`workers.<name>`). */
export type WorkerSpec = ParsedStackConfig["workers"][string];

export interface WorkerArgs extends NamedContainer, TargetAccess {
  /** Its name in the stack config, its `WORKER`. */
  worker: string;
  spec: WorkerSpec;
  /** The active slot: the worker runs its image, its environment and its user. */
  slot: AppSlot;
  /** The private network (database, cache, accessories) and the edge network (the way out). */
  networks: { private: pulumi.Input<string>; edge: pulumi.Input<string> };
  /** What must be done before it changes: the traffic switch and its window. */
  after: pulumi.Input<pulumi.Resource>[];
}

/**
 * A process without HTTP that releases with the app (Meme Maker's video worker). Only the active
 * slot's runs: a switch changes its image and environment, which replaces it, the old one
 * stopped first (its name is fixed), so two versions never consume one queue. It changes once
 * traffic has moved and held, and the update goes on only once it stayed up for its stable
 * window (and, with a healthcheck, turned healthy).
 */
export class Worker extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** Exists once the container ran its stable window without exiting or restarting. */
  readonly stable: pulumi.Resource;

  constructor(name: string, args: WorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:app:Worker", name, {}, opts);
    const child = { parent: this };
    const { spec, slot } = args;

    this.container = createContainer();
    this.stable = createStableGate(this.container);
    this.registerOutputs({ containerName: args.containerName, image: this.container.image });

    function createContainer(): docker.Container {
      return new docker.Container(
        name,
        {
          name: args.containerName,
          image: slot.container.image,
          command: spec.command,
          envs: pulumi.secret(
            slot.env.apply((env) => [
              ...env,
              ...Object.entries({ ...spec.env, [workerEnvName]: args.worker }).map(
                ([key, value]) => `${key}=${value}`,
              ),
            ]),
          ),
          user: slot.release.apply((settings) => settings.user ?? undefined),
          networksAdvanced: [
            { name: args.networks.private, aliases: [args.containerName] },
            { name: args.networks.edge, aliases: [args.containerName] },
          ],
          ...awaitedHealthcheck(spec.healthcheck),
          ...containerLimits(spec.resources),
          restart: "unless-stopped",
          // Time to finish the job in hand after SIGTERM.
          destroyGraceSeconds: 30,
          stopTimeout: 30,
        },
        { ...child, deleteBeforeReplace: true, dependsOn: args.after },
      );
    }

    function createStableGate(container: docker.Container): pulumi.Resource {
      return targetCommand(
        `${name}-stable`,
        {
          target: args.target,
          sshPrivateKey: args.sshPrivateKey,
          argv: stableWindowArgv(dockerCommand(args.target), args.containerName, spec.stableForSeconds),
          stdin: "",
          triggers: [container.id],
        },
        { ...child, dependsOn: [container] },
      );
    }
  }
}

/**
 * Watches `container` for `seconds` and fails, with its last log lines, if it stops running or
 * restarts meanwhile: a worker that crashes on start is caught here, not by its queue's backlog.
 */
export function stableWindowArgv(docker: readonly string[], container: string, seconds: number): string[] {
  const inspect = `"\${docker[@]}" inspect --format '{{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}' "$container"`;
  return [
    "bash",
    "-c",
    [
      "set -euo pipefail",
      'container=$1; seconds=$2; shift 2; docker=("$@")',
      "judge() {",
      '  if [ "${1%% *}" != true ] || [ "$1" != "$first" ]; then',
      '    echo "worker $container stopped or restarted after ${elapsed} s of its ${seconds} s window (running, started, restarts: $1); its last lines:" >&2',
      '    "${docker[@]}" logs --tail 20 "$container" >&2 || true',
      "    exit 1",
      "  fi",
      "}",
      `first=$(${inspect}); elapsed=0`,
      'judge "$first"',
      "for ((; elapsed < seconds; )); do",
      "  sleep 1; elapsed=$((elapsed + 1))",
      `  judge "$(${inspect})"`,
      "done",
      'echo "worker $container ran ${seconds} s without a restart"',
    ].join("\n"),
    "stable-window",
    container,
    String(seconds),
    ...docker,
  ];
}
