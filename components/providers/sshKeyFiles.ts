/**
 * The Docker provider reaches a VPS with the `ssh` binary, which reads the key and the pinned host
 * key from files. Those files must outlive the program: the engine deletes replaced and removed
 * resources after the program has exited, and `refresh --run-program` uses the provider after it
 * too. (A plain `destroy` runs no program: DockerSshKeys writes the files then.) So they are
 * removed when the `pulumi` process running the command exits, by a detached watcher whose
 * arguments are a process id and a directory, never the key.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { knownHostsLine, strictSshOptions, type Target } from "../target";

type SshTarget = Extract<Target, { kind: "ssh" }>;

/**
 * Where the key files for `stack` and `target` live. The same on every run: a provider input that
 * changed each time would make Pulumi diff the provider and everything under it.
 */
export function sshKeyDirectory(target: SshTarget, stack: string): string {
  const id = createHash("sha256")
    .update(`${stack}\n${knownHostsLine(target)}`)
    .digest("hex")
    .slice(0, 16);
  return path.join(os.tmpdir(), `switchyard-ssh-${id}`);
}

/** Writes the key files for `stack` and returns the ssh options that use them. */
export function writeDockerSshKeys(target: SshTarget, stack: string, privateKey: string): string[] {
  const dir = sshKeyDirectory(target, stack);
  const identity = path.join(dir, "key");
  const knownHosts = path.join(dir, "known_hosts");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.writeFileSync(identity, `${privateKey.trim()}\n`, { mode: 0o600 });
  fs.writeFileSync(knownHosts, `${knownHostsLine(target)}\n`, { mode: 0o600 });
  removeWhenCommandEnds(dir);
  return strictSshOptions(identity, knownHosts);
}

/**
 * One watcher per directory and process, kept on a global symbol because a process may evaluate
 * the program more than once (the mocks tests do).
 */
function removeWhenCommandEnds(dir: string): void {
  const key = Symbol.for("switchyard.sshKeyDirectories");
  const registry = globalThis as { [key]?: Set<string> };
  const watched = (registry[key] ??= new Set<string>());
  if (watched.has(dir)) return;
  watched.add(dir);
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; rm -rf -- "$2"';
  spawn("/bin/sh", ["-c", script, "switchyard-ssh-cleanup", String(commandProcess()), dir], {
    detached: true,
    stdio: "ignore",
  }).unref();
}

/** The `pulumi` process this program runs under, or this process when there is none (tests). */
function commandProcess(): number {
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    const [parent, command] = parentAndCommand(pid);
    if (command === "pulumi") return pid;
    pid = parent;
  }
  return process.pid;
}

function parentAndCommand(pid: number): [number, string] {
  try {
    const line = execFileSync("ps", ["-o", "ppid=,comm=", "-p", String(pid)], { encoding: "utf8" }).trim();
    const [, parent, command] = /^(\d+)\s+(.*)$/.exec(line) ?? [];
    return [Number(parent ?? 0), path.basename(command ?? "")];
  } catch {
    return [0, ""];
  }
}
