/**
 * The environment every real `pulumi` of this project runs in: the engine's binaries first on
 * PATH, the project's own PULUMI_HOME (where its plugins are registered), and nothing that
 * would reach for the internet — no plugin download, no update check.
 */
import type { EngineLayout } from "./layout";

export interface EngineEnvironment {
  /** Put before PATH: `.engine/bin`, and the directory of a user's own `pulumi` when that is used. */
  binDirs: string[];
  variables: {
    PULUMI_HOME: string;
    PULUMI_SKIP_UPDATE_CHECK: "true";
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true";
    /** A `pulumi-resource-*` found on PATH would otherwise win over the registered version. */
    PULUMI_IGNORE_AMBIENT_PLUGINS: "true";
  };
}

/** `pulumiDir` is where the CLI and its language host are: `.engine/bin`, or a user's own installation. */
export function engineEnvironment(layout: EngineLayout, pulumiDir = layout.bin): EngineEnvironment {
  return {
    binDirs: pulumiDir === layout.bin ? [layout.bin] : [layout.bin, pulumiDir],
    variables: {
      PULUMI_HOME: layout.pulumiHome,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    },
  };
}

/** `env` with the engine in it: for tests and tools that start `pulumi`. */
export function withEngine(
  engine: EngineEnvironment,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const path = [...engine.binDirs, ...(env.PATH ? [env.PATH] : [])].join(":");
  return { ...env, ...engine.variables, PATH: path };
}

/** `.engine/env.sh`: `source` it, then plain `pulumi` is this engine. */
export function renderEnvFile(engine: EngineEnvironment): string {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  return [
    "# Written by `npm run engine`: puts this checkout's Pulumi engine first.",
    `export PATH=${quote(engine.binDirs.join(":"))}:"$PATH"`,
    ...Object.entries(engine.variables).map(([key, value]) => `export ${key}=${quote(value)}`),
    "",
  ].join("\n");
}
