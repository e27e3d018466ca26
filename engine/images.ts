/**
 * The images every test stack needs, built here from Debian packages because no registry on the
 * internet can be reached: a debootstrap minbase tree imported as the base, then PostgreSQL,
 * Redis, nginx and Node.js images that speak the official images' interfaces, a Caddy image with
 * the official one's layout (the `caddy` router kind's: Caddy 2.11 built from the Go module proxy
 * by `npm run engine`, `engine/go/caddy`, for Debian ships only 2.6), the ACME client lego with
 * the official `goacme/lego` image's layout (Debian's 4.9.1), the demo app, a Debian host
 * booted by systemd (the `systemd` slot runtime's target in the tests), and the Meme Maker
 * example's accessories: an S3 server with MinIO's interface (`s3`, the stand-in program of
 * `examples/s3-standin`: MinIO is AGPL and is not built here) and Prometheus.
 * Each is pushed to the local registry and recorded by digest in `.engine/images.json`, and the
 * PostgreSQL, Redis, nginx, Caddy, lego and Node.js images also take the official name whose
 * interface and version they have (`postgres:17-trixie`, `caddy:2.11`, `goacme/lego:v4.9.1`), so a
 * stack file that names official images — the dev stack's — runs here unchanged, with nothing
 * pulled. The accessories take none: the stack files that name them pin them by digest, which no
 * local build can match, and `s3` is not MinIO at any RELEASE tag; a test puts
 * `pinnedImage("s3")` in their place.
 *
 * Debian 13 (trixie) rather than 12: the demo app needs Node.js 20, which bookworm does not ship.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { aptInstall } from "./apt";
import type { EngineLayout } from "./layout";
import { registryAddress } from "./registry";
import { capture, captureChecked, runLogged } from "./shell";
import type { StepContext, StepResult } from "./steps";

export const debianSuite = "trixie";
export const debianMirror = "http://deb.debian.org/debian";
/** The imported tree, local only: everything else builds on `switchyard/debian`, which adds this machine's CAs. */
export const minbaseImage = `switchyard-minbase:${debianSuite}`;
const tarballLabel = "org.switchyard.minbase-sha256";

export type ImageName =
  | "debian"
  | "postgres"
  | "redis"
  | "nginx"
  | "caddy"
  | "lego"
  | "node"
  | "demo-app"
  | "systemd-host"
  | "s3"
  | "prometheus";

export interface ImageSpec {
  name: ImageName;
  tag: string;
  /** Build context, relative to the repository. */
  context: string;
  /** What its Dockerfile's `ARG BASE` is: another of these images (by digest), or the imported minbase. */
  base: ImageName | "minbase";
  /** The official image it stands in for: same interface, same version line (the major, or major.minor). */
  official?: string;
  /**
   * Programs of `.engine/bin` (built by an earlier step) its Dockerfile copies from `bin/`: the
   * build runs from a temporary copy of the context with them added, so no binary is committed.
   */
  binaries?: string[];
}

export function imageSpecs(demoAppVersion: string): ImageSpec[] {
  return [
    { name: "debian", tag: debianSuite, context: "engine/images/debian", base: "minbase" },
    {
      name: "postgres",
      tag: `17-${debianSuite}`,
      context: "engine/images/postgres",
      base: "debian",
      official: `postgres:17-${debianSuite}`,
    },
    {
      name: "redis",
      tag: debianSuite,
      context: "engine/images/redis",
      base: "debian",
      official: "redis:8.0",
    },
    {
      name: "nginx",
      tag: debianSuite,
      context: "engine/images/nginx",
      base: "debian",
      official: "nginx:1.26",
    },
    // Caddy's binary is built by `npm run engine` (the `caddy` step), not taken from Debian.
    {
      name: "caddy",
      tag: `2.11-${debianSuite}`,
      context: "engine/images/caddy",
      base: "debian",
      official: "caddy:2.11",
      binaries: ["caddy"],
    },
    // The ACME client lego, Debian's 4.9.1, under the official image's name and layout.
    {
      name: "lego",
      tag: `v4.9.1-${debianSuite}`,
      context: "engine/images/lego",
      base: "debian",
      official: "goacme/lego:v4.9.1",
    },
    {
      name: "node",
      tag: `20-${debianSuite}`,
      context: "engine/images/node",
      base: "debian",
      official: `node:20-${debianSuite}-slim`,
    },
    { name: "demo-app", tag: demoAppVersion, context: "examples/demo-app", base: "node" },
    // A host run by systemd, for the `systemd` slot runtime's tests: it stands in for no official image.
    { name: "systemd-host", tag: debianSuite, context: "engine/images/systemd-host", base: "debian" },
    // The Meme Maker example's accessories. No official names: see the top of this file.
    {
      name: "s3",
      tag: debianSuite,
      context: "engine/images/s3",
      base: "debian",
      binaries: ["s3-standin"],
    },
    { name: "prometheus", tag: debianSuite, context: "engine/images/prometheus", base: "debian" },
  ];
}

export function repositoryOf(name: ImageName): string {
  return `${registryAddress}/switchyard/${name}`;
}

/** The `repository@sha256:…` among an image's RepoDigests, the form stacks pin. */
export function pinnedReference(repoDigests: readonly string[], repository: string): string | undefined {
  return repoDigests.find((reference) => /^(.+)@sha256:[0-9a-f]{64}$/.exec(reference)?.[1] === repository);
}

export type ImageDigests = Partial<Record<ImageName, string>>;

export function readImageDigests(layout: EngineLayout): ImageDigests {
  return fs.existsSync(layout.imagesFile)
    ? (JSON.parse(fs.readFileSync(layout.imagesFile, "utf8")) as ImageDigests)
    : {};
}

function recordDigest(layout: EngineLayout, name: ImageName, reference: string): void {
  const digests = { ...readImageDigests(layout), [name]: reference };
  fs.mkdirSync(path.dirname(layout.imagesFile), { recursive: true });
  fs.writeFileSync(`${layout.imagesFile}.partial`, `${JSON.stringify(digests, null, 2)}\n`);
  fs.renameSync(`${layout.imagesFile}.partial`, layout.imagesFile);
}

export function debootstrapArgv(suite: string, target: string, mirror = debianMirror): string[] {
  return ["debootstrap", "--variant=minbase", suite, target, mirror];
}

/** The cached minbase tarball, made by debootstrap the first time (it retries once: mirrors blink). */
export async function minbaseTarball(
  layout: EngineLayout,
  context: StepContext,
): Promise<{ file: string; made: boolean }> {
  const file = path.join(layout.cache.debootstrap, `${debianSuite}-minbase.tar`);
  if (fs.existsSync(file)) return { file, made: false };
  if (!fs.existsSync("/usr/sbin/debootstrap")) {
    context.status("installing debootstrap");
    await aptInstall(["debootstrap"], context.log);
  }
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  fs.mkdirSync(layout.cache.debootstrap, { recursive: true });
  const tree = fs.mkdtempSync(path.join(layout.cache.debootstrap, `${debianSuite}-`));
  try {
    for (let attempt = 1; ; attempt++) {
      context.status(`debootstrap ${debianSuite}, attempt ${attempt}`);
      try {
        await runLogged([...sudo, ...debootstrapArgv(debianSuite, tree)], { log: context.log });
        break;
      } catch (error) {
        if (attempt === 2) throw error;
        await runLogged([...sudo, "rm", "-rf", tree], { log: context.log });
        fs.mkdirSync(tree);
      }
    }
    await runLogged([...sudo, "tar", "-C", tree, "-cf", `${file}.partial`, "."], { log: context.log });
    fs.renameSync(`${file}.partial`, file);
    return { file, made: true };
  } finally {
    await runLogged([...sudo, "rm", "-rf", tree], { log: context.log });
  }
}

/** Imports the minbase tarball as `switchyard-minbase:<suite>` unless that exact tarball is imported already. */
export async function importMinbase(layout: EngineLayout, context: StepContext): Promise<StepResult> {
  const tarball = await minbaseTarball(layout, context);
  const digest = createHash("sha256").update(fs.readFileSync(tarball.file)).digest("hex");
  const imported = await capture([
    "docker",
    "image",
    "inspect",
    "--format",
    `{{index .Config.Labels "${tarballLabel}"}}`,
    minbaseImage,
  ]);
  const detail = `${minbaseImage} from debootstrap --variant=minbase ${debianSuite} (${tarball.file})`;
  if (imported.code === 0 && imported.stdout.trim() === digest) return { outcome: "present", detail };
  await runLogged(
    ["docker", "import", "--change", `LABEL ${tarballLabel}=${digest}`, tarball.file, minbaseImage],
    {
      log: context.log,
    },
  );
  return { outcome: tarball.made ? "built" : "cached", detail };
}

/**
 * The build context: the directory itself, or a copy with what the image takes from this machine
 * — for `debian` its extra CAs, for an image with `binaries` those programs from `.engine/bin`.
 */
export function buildContext(layout: EngineLayout, spec: ImageSpec): { dir: string; cleanup(): void } {
  const dir = path.join(layout.root, spec.context);
  const binaries = spec.binaries ?? [];
  if (spec.name !== "debian" && binaries.length === 0) return { dir, cleanup: () => undefined };
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), `switchyard-${spec.name}-`));
  const cleanup = () => fs.rmSync(copy, { recursive: true, force: true });
  try {
    fs.cpSync(dir, copy, { recursive: true });
    if (spec.name === "debian") {
      const authorities = path.join(copy, "ca-certificates");
      fs.mkdirSync(authorities, { recursive: true });
      const local = "/usr/local/share/ca-certificates";
      for (const file of fs.existsSync(local) ? fs.readdirSync(local) : []) {
        if (file.endsWith(".crt")) fs.copyFileSync(path.join(local, file), path.join(authorities, file));
      }
    }
    for (const name of binaries) {
      const file = path.join(layout.bin, name);
      if (!fs.existsSync(file))
        throw new Error(`${spec.name} copies ${file}, which npm run engine has not built`);
      fs.mkdirSync(path.join(copy, "bin"), { recursive: true });
      fs.copyFileSync(file, path.join(copy, "bin", name));
      fs.chmodSync(path.join(copy, "bin", name), 0o755);
    }
  } catch (error) {
    cleanup();
    throw error;
  }
  return { dir: copy, cleanup };
}

async function imageId(reference: string): Promise<string | undefined> {
  const result = await capture(["docker", "image", "inspect", "--format", "{{.Id}}", reference]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export function dockerBuildArgv(spec: ImageSpec, base: string, context: string): string[] {
  return [
    "docker",
    "build",
    "--build-arg",
    `BASE=${base}`,
    "--tag",
    `${repositoryOf(spec.name)}:${spec.tag}`,
    context,
  ];
}

/** Builds (docker's layer cache makes an unchanged image quick), pushes, and records the digest. */
export async function buildImage(
  layout: EngineLayout,
  spec: ImageSpec,
  context: StepContext,
): Promise<StepResult> {
  const digests = readImageDigests(layout);
  const base = spec.base === "minbase" ? minbaseImage : digests[spec.base];
  if (base === undefined) throw new Error(`${spec.name} builds on ${spec.base}, which has no digest yet`);
  const reference = `${repositoryOf(spec.name)}:${spec.tag}`;
  const before = await imageId(reference);
  const build = buildContext(layout, spec);
  try {
    context.status("docker build");
    await runLogged(dockerBuildArgv(spec, base, build.dir), { log: context.log });
  } finally {
    build.cleanup();
  }
  context.status("docker push");
  await runLogged(["docker", "push", reference], { log: context.log });
  const repoDigests = JSON.parse(
    await captureChecked(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", reference]),
  ) as string[];
  const pinned = pinnedReference(repoDigests, repositoryOf(spec.name));
  if (pinned === undefined)
    throw new Error(`${reference} has no digest from ${registryAddress} after the push`);
  recordDigest(layout, spec.name, pinned);
  if (spec.official !== undefined)
    await runLogged(["docker", "tag", reference, spec.official], { log: context.log });
  const sizeBytes = Number(
    (await captureChecked(["docker", "image", "inspect", "--format", "{{.Size}}", reference])).trim(),
  );
  return {
    outcome: before === (await imageId(reference)) ? "present" : "built",
    detail: spec.official === undefined ? pinned : `${pinned}, also ${spec.official}`,
    figures: { sizeMb: Math.round(sizeBytes / 2 ** 20) },
  };
}
