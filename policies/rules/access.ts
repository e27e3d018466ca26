/** How switchyard reaches the VPS: only ever a host whose key is pinned. */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { commandTypes, types } from "../resources";

const trustOnFirstUse = /StrictHostKeyChecking[= ]+(no|off|accept-new)\b/i;
const strictChecking = /StrictHostKeyChecking[= ]+yes\b/i;
const pinnedKnownHosts = /UserKnownHostsFile[= ]+\S+/i;

/** The docker provider's ssh options arrive as a JSON text (provider config is JSON-encoded) or a list. */
function sshOptions(value: unknown): string {
  if (Array.isArray(value)) return value.join(" ");
  if (typeof value !== "string") return "";
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.join(" ") : value;
  } catch {
    return value;
  }
}

/** Why the connection described by `options` may trust an unknown host key, if it may. */
function unpinnedReason(options: string): string | undefined {
  if (trustOnFirstUse.test(options)) return "accepts unknown host keys (StrictHostKeyChecking off)";
  if (!strictChecking.test(options) || !pinnedKnownHosts.test(options))
    return "does not check the host key against a pinned known_hosts file (StrictHostKeyChecking=yes, UserKnownHostsFile)";
  return undefined;
}

const remedy =
  "Pin the host key with switchyard:target.hostKey (`ssh-keyscan -t ed25519 <host>`) and keep strict checking.";

export const sshHostKeyPinned: ResourceValidationPolicy = {
  name: "ssh-host-key-pinned",
  description:
    "Every SSH connection to the target checks the host key against the pinned one; none trusts on first use.",
  validateResource: (args, reportViolation) => {
    if (args.type === types.dockerProvider && String(args.props.host ?? "").startsWith("ssh://")) {
      const reason = unpinnedReason(sshOptions(args.props.sshOpts));
      if (reason) reportViolation(`the docker provider's SSH connection ${reason}. ${remedy}`);
    }
    if (commandTypes.includes(args.type)) {
      for (const field of ["create", "update", "delete"]) {
        const script = args.props[field];
        if (typeof script !== "string" || !/\bssh\s/.test(script)) continue;
        const reason = unpinnedReason(script);
        if (reason) reportViolation(`${args.name}: its ${field} script's ssh ${reason}. ${remedy}`);
      }
    }
    const executor = args.props.executor as { kind?: string; hostKey?: unknown } | undefined;
    if (executor?.kind === "ssh" && typeof executor.hostKey !== "string") {
      reportViolation(`${args.name} connects over SSH without a pinned host key. ${remedy}`);
    }
  },
};
