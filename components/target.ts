/**
 * The machine the containers run on, and how a shell command reaches it. Pure: the command
 * text is built here and run by @pulumi/command on the machine that runs `pulumi up`.
 */

export type Target =
  | { kind: "local"; dockerHost: string }
  | { kind: "ssh"; user: string; host: string; port: number; hostKey: string };

/** Environment variable that carries the SSH private key into a target command (never its argv). */
export const sshKeyVariable = "SWITCHYARD_SSH_KEY";

/** Parses the validated `target` config (`unix:///...` or `ssh://user@host[:port]`). */
export function parseTarget(config: { host: string; hostKey?: string }): Target {
  const ssh = /^ssh:\/\/([^@]+)@([^:/]+)(?::(\d+))?$/.exec(config.host);
  if (!ssh) return { kind: "local", dockerHost: config.host };
  if (!config.hostKey) throw new Error("an ssh:// target needs a pinned hostKey");
  return {
    kind: "ssh",
    user: ssh[1],
    host: ssh[2],
    port: ssh[3] ? Number(ssh[3]) : 22,
    hostKey: config.hostKey,
  };
}

/** The `docker` provider host for this target. */
export function dockerHost(target: Target): string {
  return target.kind === "local" ? target.dockerHost : `ssh://${target.user}@${target.host}:${target.port}`;
}

/**
 * The docker CLI for commands run on the target: over ssh the VPS's own engine; on this machine
 * the configured socket, which need not be the default one the bare CLI would use.
 */
export function dockerCommand(target: Target): string[] {
  return target.kind === "local" ? ["docker", "-H", target.dockerHost] : ["docker"];
}

/** A `known_hosts` line that pins the target's host key. */
export function knownHostsLine(target: Extract<Target, { kind: "ssh" }>): string {
  const name = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return `${name} ${target.hostKey}`;
}

/** ssh options that refuse any host key but the pinned one and use only the given identity. */
export function strictSshOptions(identityFile: string, knownHostsFile: string): string[] {
  return [
    "-i",
    identityFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsFile}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
  ];
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/**
 * A bash script that runs `argv` on the target, forwarding standard input. Over SSH the key
 * comes from `$SWITCHYARD_SSH_KEY` into a private temporary directory that is removed on exit,
 * and the host key is checked against the pinned one only.
 */
export function targetScript(target: Target, argv: readonly string[]): string {
  if (target.kind === "local") return `set -euo pipefail\nexec ${shellCommand(argv)}\n`;
  const ssh = [
    "ssh",
    ...strictSshOptions('"$dir/key"', '"$dir/known_hosts"'),
    "-p",
    String(target.port),
    `${target.user}@${target.host}`,
    "--",
  ];
  return [
    "set -euo pipefail",
    "dir=$(mktemp -d)",
    "trap 'rm -rf \"$dir\"' EXIT",
    "umask 077",
    `printf '%s\\n' "$${sshKeyVariable}" > "$dir/key"`,
    `printf '%s\\n' ${shellQuote(knownHostsLine(target))} > "$dir/known_hosts"`,
    // Words naming files in "$dir" (also inside `-o UserKnownHostsFile=...`) stay unquoted so bash
    // expands them. ssh joins its remote arguments with spaces, so the remote command is quoted once here.
    `${ssh.map((word) => (word.includes('"$dir') ? word : shellQuote(word))).join(" ")} ${shellQuote(shellCommand(argv))}`,
    "",
  ].join("\n");
}
