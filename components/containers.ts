import * as path from "node:path";
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/** Where an image comes from: a registry reference, or a directory to build (dev stacks). */
export interface ImageSource {
  image?: string;
  build?: string;
}

/**
 * Pulls (or builds) an image and returns the immutable id containers should run, so a tag that
 * moves in the registry never changes a running container behind Pulumi's back.
 */
export function containerImage(
  name: string,
  source: ImageSource,
  buildTag: string,
  opts: pulumi.CustomResourceOptions,
): pulumi.Output<string> {
  if (source.build !== undefined) {
    const built = new docker.Image(
      name,
      {
        imageName: `switchyard-${name}:${buildTag}`,
        build: { context: path.resolve(source.build), platform: "linux/amd64" },
        skipPush: true,
      },
      opts,
    );
    return built.repoDigest;
  }
  if (source.image === undefined) throw new Error(`${name}: an image or a build directory is required`);
  const pulled = new docker.RemoteImage(name, { name: source.image, keepLocally: true }, opts);
  return pulled.imageId;
}

export interface ContainerResources {
  memoryMb: number;
  cpus: number;
}

/** Docker limits for a container: a hard memory cap (the provider counts MB) and a CPU quota. */
export function containerLimits(resources: ContainerResources): { memory: number; cpus: string } {
  return { memory: resources.memoryMb, cpus: String(resources.cpus) };
}
