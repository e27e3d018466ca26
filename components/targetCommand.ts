import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { sshKeyVariable, type Target, targetScript } from "./target";

/** How a component reaches the machine its commands run on. */
export interface TargetAccess {
  target: Target;
  /** The deploy user's private key, for ssh targets. */
  sshPrivateKey?: pulumi.Input<string>;
}

export interface TargetCommandArgs extends TargetAccess {
  /** The command to run on the target. */
  argv: pulumi.Input<string[]>;
  /** Standard input for it (secrets travel here, never in argv). */
  stdin: pulumi.Input<string>;
  /** Values whose change runs the command again. */
  triggers: pulumi.Input<unknown>[];
}

/**
 * Runs a command on the target once, and again whenever a trigger changes; a non-zero exit
 * fails the update. Locally it is a child process, for a VPS an ssh session that accepts only
 * the pinned host key.
 */
export function targetCommand(
  name: string,
  args: TargetCommandArgs,
  opts: pulumi.CustomResourceOptions,
): command.local.Command {
  return new command.local.Command(
    name,
    {
      create: pulumi.output(args.argv).apply((argv) => targetScript(args.target, argv)),
      interpreter: ["/bin/bash", "-c"],
      stdin: args.stdin,
      environment:
        args.target.kind === "ssh" && args.sshPrivateKey
          ? pulumi.secret(pulumi.output(args.sshPrivateKey).apply((key) => ({ [sshKeyVariable]: key })))
          : undefined,
      triggers: args.triggers,
    },
    opts,
  );
}
