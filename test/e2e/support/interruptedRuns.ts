/**
 * What a run of this tier that was killed mid-suite leaves: its stacks' directories in the temp
 * directory and, on the engine, everything their states hold. Docker starts a container with a
 * restart policy again when it starts, so a machine restarted (or copied) after such a run serves
 * that stack's containers under the fixed names the next run deploys: every suite then fails
 * ("containers of another stack run here", "network … already exists"), and none of them is the
 * one that broke. Each stack's directory says which process made it; one whose process is gone
 * is removed here, with what its state holds, before the tier starts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "../../support/process";

/** The prefix of every stack's directory under the temp directory. */
export const stackDirectoryPrefix = "switchyard-e2e-";

const ownerFile = "owner.json";

/** A process as the kernel names it across pid reuse: the boot, its pid, and when it started. */
interface ProcessIdentity {
  bootId: string;
  pid: number;
  startTicks: string;
}

/** The identity of `pid`, undefined when no such process runs. */
function identityOf(pid: number): ProcessIdentity | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields count from its closing one.
    const startTicks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return { bootId: fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), pid, startTicks };
  } catch {
    return undefined;
  }
}

/** Marks `dir` as this process's, for a later run to tell whether it was left behind. */
export function markOwner(dir: string): void {
  fs.writeFileSync(path.join(dir, ownerFile), JSON.stringify(identityOf(process.pid)));
}

/** Whether the process that made `dir` still runs; a directory without a mark has no owner. */
function ownerRuns(dir: string): boolean {
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(dir, ownerFile), "utf8")) as ProcessIdentity;
    const now = identityOf(owner.pid);
    return now !== undefined && now.bootId === owner.bootId && now.startTicks === owner.startTicks;
  } catch {
    return false;
  }
}

/** A resource as a file backend's checkpoint holds it. */
interface StateResource {
  type: string;
  id?: string;
}

const dockerKinds = [
  ["container", "docker:index/container:Container"],
  ["network", "docker:index/network:Network"],
  ["volume", "docker:index/volume:Volume"],
] as const;

/**
 * Force-removes the Docker objects among `resources`: containers first, which use the rest.
 * Returns what it found to remove, as "2 containers".
 */
export async function removeDockerObjects(resources: readonly StateResource[]): Promise<string[]> {
  const removed: string[] = [];
  for (const [kind, type] of dockerKinds) {
    const ids = resources
      .filter((resource) => resource.type === type && resource.id)
      .map((r) => r.id as string);
    if (ids.length === 0) continue;
    await run("docker", [kind, "rm", ...(kind === "network" ? [] : ["--force"]), ...ids]);
    removed.push(`${ids.length} ${kind}${ids.length === 1 ? "" : "s"}`);
  }
  return removed;
}

/** The resources of every stack a file backend under `backendDir` holds, read from its files. */
export function stateResources(backendDir: string): StateResource[] {
  const stacks = path.join(backendDir, ".pulumi", "stacks");
  if (!fs.existsSync(stacks)) return [];
  return fs
    .readdirSync(stacks, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".json"))
    .flatMap((file) => checkpointResources(path.join(stacks, file)));
}

/** The resources of the checkpoint `file`, or of its backup if the kill cut the file short. */
function checkpointResources(file: string): StateResource[] {
  for (const candidate of [file, `${file}.bak`]) {
    try {
      const state = JSON.parse(fs.readFileSync(candidate, "utf8")) as {
        checkpoint?: { latest?: { resources?: StateResource[] } };
      };
      return state.checkpoint?.latest?.resources ?? [];
    } catch {
      continue;
    }
  }
  throw new Error(`neither ${file} nor its .bak is a checkpoint: remove what its stack deployed by hand`);
}

/**
 * Removes every stack directory whose process is gone, and the containers, networks and volumes
 * its state holds; says what it removed.
 */
export async function removeInterruptedStacks(): Promise<void> {
  const temp = os.tmpdir();
  for (const name of fs.readdirSync(temp).filter((entry) => entry.startsWith(stackDirectoryPrefix))) {
    const dir = path.join(temp, name);
    if (ownerRuns(dir)) continue;
    const removed = await removeDockerObjects(stateResources(path.join(dir, "state")));
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(
      `  removed ${dir}, left by an interrupted run${removed.length ? `, and its ${removed.join(", ")}` : ""}`,
    );
  }
}
