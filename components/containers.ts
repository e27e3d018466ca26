import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { ParsedStackConfig } from "../infra/config";
import { dockerCpus, dockerDuration } from "../infra/dockerReadBack";

/** Where an image comes from: a registry reference, or a directory to build (dev stacks). */
export interface ImageSource {
  image?: string;
  /** Relative to the project directory. */
  build?: string;
}

/**
 * The project directory, where Pulumi.yaml is. Stack config names build directories relative to
 * it; the engine runs the program from its `main` directory, and tests from anywhere.
 */
export const projectDirectory = path.resolve(__dirname, "..");

/** A container's name on its host: from `hostNames`, so deployments sharing a host never collide. */
export interface NamedContainer {
  /** Docker's name of the container, also its host name on its networks. */
  containerName: string;
}

/** A data service on the private network (the database, the cache): what both take. */
export interface PrivateService extends NamedContainer {
  /**
   * Keep its volume for good (outside development): `protect` it, so no update or destroy can
   * even plan its deletion, and retain it if it is deleted anyway. Without it (a dev stack), the
   * volume goes with the stack.
   */
  keepVolume: boolean;
  resources: ContainerResources;
  /** The private network it joins; it publishes no port. */
  network: pulumi.Input<string>;
  /** For native slots, which run outside Docker: where it is also published on the host's 127.0.0.1. */
  loopback?: LoopbackAccess;
}

export interface LoopbackAccess {
  port: number;
  /**
   * A network without a way out (`noWayOutNetworkOptions`), there only because Docker publishes no port
   * of a container that is on internal networks alone.
   */
  network: pulumi.Input<string>;
}

/** The networks and published ports of a data store, known to the other containers as `host`. */
export function privateServiceNetworking(
  service: Pick<PrivateService, "network" | "loopback">,
  host: string,
  port: number,
) {
  const networks = [{ name: service.network, aliases: [host] }];
  if (service.loopback === undefined) return { networksAdvanced: networks };
  return {
    networksAdvanced: [...networks, { name: service.loopback.network }],
    ports: [{ internal: port, external: service.loopback.port, ip: "127.0.0.1" }],
  };
}

/**
 * A named volume that holds data. Kept (`keep`: outside development), it is protected, so no
 * update or destroy can even plan its deletion (the engine shows policies `protect`, not
 * `retainOnDelete`), and retained should it be deleted anyway.
 */
export function dataVolume(
  name: string,
  volumeName: string,
  keep: boolean,
  opts: pulumi.CustomResourceOptions,
): docker.Volume {
  return new docker.Volume(name, { name: volumeName }, { ...opts, retainOnDelete: keep, protect: keep });
}

/** Where a built image is tagged: `<repository>:<tag>`. */
export interface BuildTag {
  repository: string;
  tag: string;
}

/**
 * Pulls (or builds, when `source` names a directory and `build` where to tag it) an image and
 * returns the immutable id containers should run, so a tag that moves in the registry never
 * changes a running container behind Pulumi's back.
 */
export function containerImage(
  name: string,
  source: ImageSource,
  opts: pulumi.CustomResourceOptions,
  build?: BuildTag,
): pulumi.Output<string> {
  if (source.build !== undefined) {
    if (build === undefined) throw new Error(`${name}: this image is pulled, never built: set \`image\``);
    const context = path.resolve(projectDirectory, source.build);
    const built = new docker.RemoteImage(
      name,
      {
        name: `${build.repository}:${build.tag}`,
        build: { context },
        // Rebuilt when a file Docker would send changes, not only when the tag does.
        triggers: { context: buildContextDigest(context) },
        // Builds of one directory share an image id: removing one would pull it from under the others.
        keepLocally: true,
      },
      opts,
    );
    return built.imageId;
  }
  if (source.image === undefined) throw new Error(`${name}: an image or a build directory is required`);
  const pulled = new docker.RemoteImage(name, { name: source.image, keepLocally: true }, opts);
  return pulled.imageId;
}

/**
 * A `.dockerignore` pattern as a test of a path relative to the context: `*` and `?` within one
 * segment, and a match of a directory covers what is under it. (Negations, `!`, are not used here.)
 */
export function dockerignoreMatcher(pattern: string): (relative: string) => boolean {
  const segments = pattern.replace(/^\/+|\/+$/g, "").split("/");
  const expression = segments
    .map((segment) =>
      segment === "**"
        ? ".*"
        : segment
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]"),
    )
    .join("/");
  const regex = new RegExp(`^${expression}(?:/.*)?$`);
  return (relative) => regex.test(relative);
}

/** sha256 over the paths and contents of the files a build of `context` sends to Docker. */
export function buildContextDigest(context: string): string {
  const ignoreFile = path.join(context, ".dockerignore");
  const ignored = fs.existsSync(ignoreFile)
    ? fs
        .readFileSync(ignoreFile, "utf8")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"))
        .map(dockerignoreMatcher)
    : [];
  const files = fs
    .readdirSync(context, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(context, path.join(entry.parentPath, entry.name)))
    .filter((relative) => !ignored.some((matches) => matches(relative)))
    .sort();
  const hash = createHash("sha256");
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(fs.readFileSync(path.join(context, file)))
      .update("\0");
  return hash.digest("hex");
}

export interface ContainerResources {
  memoryMb: number;
  cpus: number;
}

/**
 * Docker limits for a container, written exactly as the provider reads them back from Docker, so
 * that the next preview finds no difference (a `cpus` difference replaces the container): `cpus`
 * in the provider's spelling (`dockerCpus`: `1` -> `"1.0"`), and memory as `memoryLimit` sets it.
 */
export function containerLimits(resources: ContainerResources): {
  memory: number;
  memorySwap: number;
  cpus: string;
} {
  return { ...memoryLimit(resources.memoryMb), cpus: dockerCpus(resources.cpus) };
}

/**
 * A hard memory limit without swap: `memorySwap` equal to `memory`. Unset, Docker makes it twice
 * the memory and the provider reads that back as a change; swapping would also blur the limit.
 */
export function memoryLimit(memoryMb: number): { memory: number; memorySwap: number } {
  return { memory: memoryMb, memorySwap: memoryMb };
}

/** A container's healthcheck as the stack config declares it (an accessory's, a worker's). */
export type ContainerHealthcheck = NonNullable<ParsedStackConfig["accessories"][string]["healthcheck"]>;

/**
 * Docker's healthcheck, spelled as Docker reads it back, and the provider waiting for it: with
 * one, creating the container fails unless it turns healthy within `deadlineSeconds`.
 */
export function awaitedHealthcheck(healthcheck: ContainerHealthcheck | undefined): {
  healthcheck?: docker.types.input.ContainerHealthcheck;
  wait: boolean;
  waitTimeout?: number;
} {
  if (healthcheck === undefined) return { wait: false };
  return {
    healthcheck: {
      tests: ["CMD", ...healthcheck.command],
      interval: dockerDuration(healthcheck.intervalSeconds),
      timeout: dockerDuration(healthcheck.timeoutSeconds),
      retries: healthcheck.retries,
      startPeriod: dockerDuration(healthcheck.startPeriodSeconds),
    },
    wait: true,
    waitTimeout: healthcheck.deadlineSeconds,
  };
}
