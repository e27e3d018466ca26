/**
 * Where the real engine lives. Two places, for two lifetimes:
 *
 * - `.engine/` in the checkout (gitignored): what this checkout runs with — binaries, the
 *   project's `PULUMI_HOME` with its plugins, logs, pid files of what `npm run engine` started
 *   and the digests of the images it pushed.
 * - the cache (`$SWITCHYARD_CACHE`, else `$XDG_CACHE_HOME/switchyard`, else `~/.cache/switchyard`):
 *   what is slow to make and the same for every checkout — Go's module and build caches, built
 *   binaries by content stamp, the debootstrap tarball, the registry's storage (the registry
 *   daemon outlives the checkout that started it). A fresh clone on the same machine reuses it,
 *   which is what makes a second `.ci/run` fast.
 */
import * as os from "node:os";
import * as path from "node:path";

export interface EngineLayout {
  /** The checkout. */
  root: string;
  /** `.engine/bin`: `pulumi`, `pulumi-language-nodejs`, `pulumi-resource-pulumi-nodejs`. */
  bin: string;
  /** The project's `PULUMI_HOME`: plugins registered with `pulumi plugin install --file`. */
  pulumiHome: string;
  /** One log per step, named in the failure message when a step fails. */
  logs: string;
  /** Pid files of the daemons `npm run engine` started (and only those). */
  run: string;
  /** `{ "<image>": "127.0.0.1:5000/switchyard/<image>@sha256:…" }` for tests and stacks. */
  imagesFile: string;
  /** Shell lines that put this engine on PATH: `source .engine/env.sh`. */
  envFile: string;
  /** Wrapper Go modules, committed: `engine/go/<module>`. */
  goModules: string;
  /** Dockerfiles of the images, committed: `engine/images/<image>`. */
  imageContexts: string;
  cache: {
    dir: string;
    goModules: string;
    goBuild: string;
    /** Built binaries, `<name>-<stamp>`. */
    binaries: string;
    debootstrap: string;
    /** The registry's configuration and storage. */
    registry: string;
  };
}

export function engineLayout(root: string, env: NodeJS.ProcessEnv = process.env): EngineLayout {
  const state = path.join(root, ".engine");
  const cacheDir =
    env.SWITCHYARD_CACHE ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "switchyard");
  return {
    root,
    bin: path.join(state, "bin"),
    pulumiHome: path.join(state, "pulumi-home"),
    logs: path.join(state, "logs"),
    run: path.join(state, "run"),
    imagesFile: path.join(state, "images.json"),
    envFile: path.join(state, "env.sh"),
    goModules: path.join(root, "engine", "go"),
    imageContexts: path.join(root, "engine", "images"),
    cache: {
      dir: cacheDir,
      goModules: path.join(cacheDir, "go", "mod"),
      goBuild: path.join(cacheDir, "go", "build"),
      binaries: path.join(cacheDir, "bin"),
      debootstrap: path.join(cacheDir, "debootstrap"),
      registry: path.join(cacheDir, "registry"),
    },
  };
}

/** The repository this file belongs to. */
export const repoRoot = path.resolve(__dirname, "..");
