/**
 * The real engine for the end-to-end tier: the `pulumi` that `npm run engine` prepared, the
 * images it pushed (by digest), and throwaway stacks on a file backend in a temp directory.
 */
import { hostNames } from "../../../infra/names";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dockerdPidFile, dockerServerVersion } from "../../../engine/dockerd";
import { engineEnvironment, withEngine } from "../../../engine/env";
import {
  type ImageDigests,
  type ImageName,
  pinnedReference,
  readImageDigests,
  repositoryOf,
} from "../../../engine/images";
import { engineLayout, repoRoot } from "../../../engine/layout";
import { startDaemon, stopDaemon, waitFor } from "../../../engine/shell";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { run, runChecked, type RunResult } from "../../support/process";
import { markOwner, removeDockerObjects, stackDirectoryPrefix, stateResources } from "./interruptedRuns";

export const layout = engineLayout(repoRoot);

/** The environment `pulumi` runs in: `.engine/env.sh`'s variables, or a user's own CLI already on PATH. */
export function engineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...withEngine(engineEnvironment(layout)), ...extra };
}

/** The image `npm run engine` pushed, as `127.0.0.1:5000/switchyard/<name>@sha256:…`. */
export function pinnedImage(name: ImageName): string {
  const digests: ImageDigests = readImageDigests(layout);
  const reference = digests[name];
  if (reference === undefined)
    throw new Error(`${layout.imagesFile} has no ${name}: run npm run engine first`);
  return reference;
}

/**
 * A new release of the image `name` as a team would push one: `name`'s pinned image with `files`
 * (paths inside the image's working directory) added, pushed to the local registry under `tag`.
 * Returns it pinned by digest.
 */
export async function pushRelease(
  name: ImageName,
  tag: string,
  files: Record<string, string>,
): Promise<string> {
  const context = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-release-"));
  try {
    const copies = Object.keys(files).map((file, index) => {
      fs.writeFileSync(path.join(context, `file-${index}`), files[file]);
      return `COPY file-${index} ${file}`;
    });
    fs.writeFileSync(
      path.join(context, "Dockerfile"),
      [`FROM ${pinnedImage(name)}`, ...copies, ""].join("\n"),
    );
    const reference = `${repositoryOf(name)}:${tag}`;
    await runChecked("docker", ["build", "--quiet", "--tag", reference, context], { timeoutMs: 300_000 });
    await runChecked("docker", ["push", "--quiet", reference], { timeoutMs: 300_000 });
    const inspected = await runChecked("docker", [
      "image",
      "inspect",
      "--format",
      "{{json .RepoDigests}}",
      reference,
    ]);
    const pinned = pinnedReference(JSON.parse(inspected.stdout) as string[], repositoryOf(name));
    if (pinned === undefined) throw new Error(`${reference} has no digest after the push`);
    return pinned;
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
}

/** A short random prefix for everything a test creates, so a leftover never collides with the next run. */
export function testPrefix(what: string): string {
  return `sy-${what}-${randomBytes(3).toString("hex")}`;
}

export type StackOptions = (
  | {
      /** A fixture program directory to copy, relative to the repository. */
      program: string;
      /** npm packages the program may see: its node_modules holds links to exactly these. */
      packages: string[];
    }
  | {
      /**
       * The project itself: these files and directories of the repository, copied to the same
       * places (so a stack file the test edits is a copy), with the repository's node_modules.
       */
      project: string[];
    }
) & { stack?: string };

/** What the real program needs to run from a copy: its project file, sources, build context and stack files. */
export const projectFiles = [
  "Pulumi.yaml",
  "Pulumi.dev.yaml",
  "package.json",
  "tsconfig.json",
  "infra",
  "components",
  "examples/demo-app",
  "bin",
];

/** One stack of one program on its own file backend; `dispose()` removes the backend and the copy. */
export class TestStack {
  readonly dir: string;
  readonly programDir: string;
  readonly backendDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stack: string;
  /** Where a copy of the project keeps its pre-migration snapshots: gone with the stack's directory. */
  readonly snapshotDirectory: string;

  constructor(options: StackOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), stackDirectoryPrefix));
    markOwner(this.dir);
    this.programDir = path.join(this.dir, "program");
    this.backendDir = path.join(this.dir, "state");
    this.snapshotDirectory = path.join(this.dir, "snapshots");
    this.stack = options.stack ?? "e2e";
    fs.mkdirSync(this.backendDir);
    if ("project" in options) {
      for (const file of options.project)
        fs.cpSync(path.join(repoRoot, file), path.join(this.programDir, file), { recursive: true });
      // A stack file a local `pulumi up` used holds that user's salt; this stack has its own passphrase.
      for (const file of fs.readdirSync(this.programDir).filter((name) => /^Pulumi\..+\.yaml$/.test(name))) {
        const stackFile = path.join(this.programDir, file);
        fs.writeFileSync(stackFile, fs.readFileSync(stackFile, "utf8").replace(/^encryptionsalt:.*\n/m, ""));
      }
      fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(this.programDir, "node_modules"));
    } else {
      fs.cpSync(path.join(repoRoot, options.program), this.programDir, { recursive: true });
      // The language host asks for a plugin for every provider package it finds in node_modules: the
      // program sees only the packages it uses. Links resolve to the repository's own install.
      for (const name of options.packages) {
        const link = path.join(this.programDir, "node_modules", name);
        fs.mkdirSync(path.dirname(link), { recursive: true });
        fs.symlinkSync(path.join(repoRoot, "node_modules", name), link);
      }
    }
    this.env = engineEnv({
      PULUMI_BACKEND_URL: `file://${this.backendDir}`,
      PULUMI_CONFIG_PASSPHRASE: randomBytes(16).toString("hex"),
    });
  }

  /** Runs `pulumi <args>` in the program directory on this stack; never rejects on a non-zero exit. */
  pulumi(args: readonly string[], timeoutMs = 300_000): Promise<RunResult> {
    return run("pulumi", [...args, "--stack", this.stack, "--non-interactive"], {
      cwd: this.programDir,
      env: this.env,
      timeoutMs,
    });
  }

  /** Like `pulumi`, but rejects with the whole output unless it exits 0. */
  async pulumiChecked(args: readonly string[], timeoutMs?: number): Promise<RunResult> {
    const result = await this.pulumi(args, timeoutMs);
    if (result.code !== 0)
      throw new Error(`pulumi ${args.join(" ")} exited with ${result.code}\n${result.output}`);
    return result;
  }

  async init(config: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
    await run("pulumi", ["stack", "init", this.stack, "--non-interactive"], {
      cwd: this.programDir,
      env: this.env,
    }).then((result) => {
      if (result.code !== 0) throw new Error(`pulumi stack init failed\n${result.output}`);
    });
    for (const [key, value] of Object.entries(config))
      await this.pulumiChecked(["config", "set", key, value]);
    await this.setSecrets(secrets);
  }

  /** Sets each secret by its config path (`tlsKey`, `appSecrets.JWT_SECRET`). */
  async setSecrets(secrets: Record<string, string>): Promise<void> {
    // Secrets go in on stdin: an argument would show them in the process list.
    for (const [key, value] of Object.entries(secrets)) await this.setOnStdin(key, value, "--secret");
  }

  /** Sets `key` (a config path) to the list `values`, each item a string even where it starts with `-`. */
  async setList(key: string, values: readonly string[]): Promise<void> {
    for (const [index, value] of values.entries())
      await this.setOnStdin(`${key}[${index}]`, value, "--type=string");
  }

  /** Sets `key` (a config path) to the string `value`, which may start with `-` or span lines (a PEM). */
  async setText(key: string, value: string): Promise<void> {
    await this.setOnStdin(key, value, "--type=string");
  }

  private async setOnStdin(key: string, value: string, flag: string): Promise<void> {
    const result = await run(
      "sh",
      [
        "-c",
        `printf '%s' "$VALUE" | pulumi config set --path ${flag} "$1" --stack "$2"`,
        "-",
        key,
        this.stack,
      ],
      { cwd: this.programDir, env: { ...this.env, VALUE: value } },
    );
    if (result.code !== 0) throw new Error(`pulumi config set ${flag} ${key} failed\n${result.output}`);
  }

  async outputs(): Promise<Record<string, unknown>> {
    const result = await this.pulumiChecked(["stack", "output", "--json"]);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  /** The stack's state as `pulumi stack export` gives it (secrets encrypted). */
  async exportState(): Promise<string> {
    return (await this.pulumiChecked(["stack", "export"])).stdout;
  }

  /** The engine's own account of a preview: each step's operation and resource URN. */
  async previewSteps(): Promise<{ op: string; urn: string }[]> {
    const result = await this.pulumiChecked(["preview", "--json", "--diff"]);
    const preview = JSON.parse(result.stdout) as { steps?: { op: string; urn: string }[] };
    return (preview.steps ?? []).map(({ op, urn }) => ({ op, urn }));
  }

  /**
   * What a preview would change, `op role` sorted, leaving out `same`: each resource by its role,
   * its name without the deployment's (`update router-upstream`). The deployment is named for the
   * stack here (the tests' stacks name none, or their own).
   */
  async plannedChanges(): Promise<string[]> {
    const prefix = `${this.stack}-`;
    return (await this.previewSteps())
      .filter((step) => step.op !== "same")
      .map(({ op, urn }) => {
        const name = urn.split("::").pop() ?? "";
        return `${op} ${name.startsWith(prefix) ? name.slice(prefix.length) : name}`;
      })
      .sort();
  }

  /**
   * For a suite's `after`: destroys what the stack runs, then disposes. A failed destroy fails the
   * suite, but first the stack's containers, networks and volumes are removed from the engine by
   * the ids in its state: left running, they would fail every later suite that deploys the same
   * names, and hide which test broke.
   */
  async teardown(): Promise<void> {
    const destroyed = await this.pulumi(["destroy", "--yes", "--skip-preview"], 600_000);
    if (destroyed.code !== 0) await removeDockerObjects(stateResources(this.backendDir));
    this.dispose();
    if (destroyed.code !== 0)
      throw new Error(`pulumi destroy exited with ${destroyed.code}\n${destroyed.output}`);
  }

  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The containers of deployment `deployment`; unnamed, those of a host's only one (the dev stack's). */
export function deploymentContainers(deployment?: string): string[] {
  const { database, cache, slots, router } = hostNames(deployment);
  return [database, cache, slots.blue, slots.green, router];
}

export const devStackContainers = deploymentContainers(undefined);

/** Each container's id and start time: what a replacement or a restart would change. */
export async function runningAs(names: readonly string[]): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  for (const name of names)
    seen[name] = (
      await runChecked("docker", ["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", name])
    ).stdout.trim();
  return seen;
}

/** Ports of their own: two deployments on one host cannot both bind one. */
export interface OwnPorts {
  httpPort: number;
  checkPort: number;
  loopbackPorts: { blue: number; green: number };
}

/**
 * `Pulumi.dev.yaml` as committed, as the deployment named after stack `name`, on `ports`, with
 * `config` (whole top-level keys, `switchyard:` included) over it.
 */
export async function newNamedDevStack(
  name: string,
  ports: OwnPorts,
  config: Record<string, unknown> = {},
): Promise<TestStack> {
  const dev = parseYaml(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8")) as {
    config: Record<string, Record<string, unknown>>;
  };
  await removeLeftovers(name);
  const stack = new TestStack({ project: projectFiles, stack: name });
  const values = {
    ...dev.config,
    "switchyard:deployment": name,
    "switchyard:router": {
      ...dev.config["switchyard:router"],
      httpPort: ports.httpPort,
      checkPort: ports.checkPort,
    },
    "switchyard:app": { ...dev.config["switchyard:app"], loopbackPorts: ports.loopbackPorts },
    "switchyard:snapshots": { ...dev.config["switchyard:snapshots"], directory: stack.snapshotDirectory },
    ...config,
  };
  fs.writeFileSync(path.join(stack.programDir, `Pulumi.${name}.yaml`), stringifyYaml({ config: values }));
  await stack.init({});
  return stack;
}

/**
 * Removes the networks and data volumes of deployment `deployment` (`undefined`: the unnamed one)
 * that no container uses: what a run of this tier killed mid-suite leaves where no state names it
 * (interruptedRuns.ts removes what a state does), such as a network created as the run was killed.
 * A network of the same name fails the next first `pulumi up` ("already exists"), and an old volume
 * would hand the new stack an old database. A stack that runs keeps its own: Docker refuses to
 * remove them while its containers use them.
 */
export async function removeLeftovers(deployment: string | undefined): Promise<void> {
  const names = hostNames(deployment);
  const leftovers = {
    network: [names.privateNetwork, names.edgeNetwork, names.nativeNetwork],
    volume: [names.routerState, names.databaseVolume, names.cacheVolume],
  };
  for (const [kind, objects] of Object.entries(leftovers))
    for (const name of objects)
      if ((await run("docker", [kind, "rm", name])).code === 0)
        console.log(`      removed the ${kind} ${name}, left by an interrupted run`);
}

/**
 * A copy of the project on its own backend, with the stack `name` (its committed stack file, if
 * any) initialised with `config`; refuses while another stack's containers hold the fixed names.
 */
export async function newDevStack(config: Record<string, string> = {}, name = "dev"): Promise<TestStack> {
  const taken = [];
  for (const container of devStackContainers)
    if ((await run("docker", ["container", "inspect", container])).code === 0) taken.push(container);
  if (taken.length > 0)
    throw new Error(
      `containers of another stack run here (${taken.join(", ")}): \`pulumi destroy\` that stack first`,
    );
  await removeLeftovers(undefined);
  const stack = new TestStack({ project: projectFiles, stack: name });
  await stack.init(config);
  await stack.pulumiChecked(["config", "set", "--path", "snapshots.directory", stack.snapshotDirectory]);
  return stack;
}

/**
 * Restarts the Docker engine: a systemd one through systemd; otherwise the dockerd running here
 * (the one `npm run engine` started, by its pid file, or the only one there is) is stopped with a
 * minute's grace, longer than its own shutdown timeout, and started again with the same command.
 */
export async function restartDockerEngine(): Promise<void> {
  if ((await run("systemctl", ["is-active", "--quiet", "docker"])).code === 0) {
    await runChecked("systemctl", ["restart", "docker"], { timeoutMs: 120_000 });
    return;
  }
  const pidFile = dockerdPidFile(layout);
  const pid = fs.existsSync(pidFile)
    ? fs.readFileSync(pidFile, "utf8").trim()
    : (await run("pgrep", ["-x", "dockerd"])).stdout.trim();
  if (!/^\d+$/.test(pid)) throw new Error(`expected one running dockerd to restart, found: ${pid || "none"}`);
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  fs.writeFileSync(pidFile, `${pid}\n`);
  await stopDaemon(pidFile, 60_000);
  fs.mkdirSync(layout.logs, { recursive: true });
  startDaemon(argv, { log: path.join(layout.logs, "dockerd.daemon.log"), pidFile });
  await waitFor("dockerd", async () => (await dockerServerVersion()) !== undefined, 60_000);
}

/** A demo-app worker that says who it is and stays up; `exitAfterMs` makes it die that soon instead. */
export function workerCommand(exitAfterMs?: number): string[] {
  return [
    "node",
    "-e",
    `console.log("worker", process.env.WORKER, process.env.APP_VERSION); ${
      exitAfterMs === undefined
        ? "setInterval(() => {}, 1000)"
        : `setTimeout(() => process.exit(3), ${exitAfterMs})`
    }`,
  ];
}
