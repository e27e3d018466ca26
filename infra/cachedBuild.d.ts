import type { BuildOptions, BuildResult } from "esbuild";

/** See cachedBuild.js: esbuild's output, kept on disk with the content of every file it read. */
export function cachedBuild(
  options: BuildOptions,
  settings?: {
    cacheDir?: string;
    build?: (options: BuildOptions) => BuildResult;
  },
): { path: string; text: string }[];
