/**
 * Provider plugins for the npm packages the program imports, each built from a wrapper module in
 * `engine/go/<name>` and registered as the version its npm package asks for. Two kinds:
 *
 * - `go`: the provider's own main package, a `tool` of the wrapper (command);
 * - `bridged`: the Go module proxy refuses the provider's own module (pulumi-docker,
 *   pulumi-random), so the plugin is built the way Pulumi builds it: the Terraform bridge over the
 *   upstream Terraform provider, with our mapping in the wrapper. tfgen writes the schema and the
 *   bridge metadata, which the plugin embeds; the conformance test holds the result to the SDK.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type GoBinary, type GoBuild, generatedFiles, goBinary, goBuildEnv, lockedVersion } from "./go";
import type { EngineLayout } from "./layout";
import { registerPlugin } from "./pulumi";
import { captureChecked, runLogged } from "./shell";
import type { StepContext, StepResult } from "./steps";

export type PluginSource =
  | { kind: "go"; binary: GoBinary }
  | {
      kind: "bridged";
      tfgen: GoBinary;
      provider: GoBinary;
      /** The upstream provider's module path, as the wrapper requires it: its docs feed tfgen. */
      upstream: string;
    };

export interface ProviderPlugin {
  /** Plugin name, as in `pulumi-resource-<name>`. */
  name: string;
  /** The npm package whose version the plugin must have. */
  npm: string;
  source: PluginSource;
}

/** The tfgen and provider binaries of a bridged plugin: main packages of the wrapper `engine/go/<name>`. */
function bridged(name: string, npm: string, upstream: string): ProviderPlugin {
  const binary = (main: string): GoBinary => ({
    name: main,
    module: name,
    package: `./cmd/${main}`,
    version: { from: "npm", package: npm },
    versionVariable: `switchyard/engine/${name}.Version`,
    tags: [],
  });
  return {
    name,
    npm,
    source: {
      kind: "bridged",
      tfgen: binary(`pulumi-tfgen-${name}`),
      provider: binary(`pulumi-resource-${name}`),
      upstream,
    },
  };
}

export const providerPlugins: readonly ProviderPlugin[] = [
  {
    name: "command",
    npm: "@pulumi/command",
    source: {
      kind: "go",
      binary: {
        name: "pulumi-resource-command",
        module: "command",
        package: "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command",
        version: { from: "npm", package: "@pulumi/command" },
        versionVariable: "github.com/pulumi/pulumi-command/provider/pkg/version.Version",
        tags: [],
      },
    },
  },
  bridged("docker", "@pulumi/docker", "github.com/terraform-providers/terraform-provider-docker"),
  bridged("random", "@pulumi/random", "github.com/terraform-providers/terraform-provider-random"),
];

export interface PluginStepOptions {
  layout: EngineLayout;
  lock: unknown;
  /** The `pulumi` to register with, and the environment it runs in (the project's PULUMI_HOME). */
  pulumi: string;
  env: NodeJS.ProcessEnv;
}

/**
 * `pulumi-tfgen-<name> schema`: the schema and the bridge metadata (and a Pulumi.yaml nobody
 * needs). Example conversion needs tooling that is not here, and the schema needs no examples.
 */
export function tfgenArgv(tfgen: string, outDir: string): string[] {
  return [tfgen, "schema", "--out", outDir, "--skip-examples"];
}

/** Builds tfgen (or takes it from the cache), runs it, and puts what the plugin embeds beside its main. */
async function generateSchema(
  layout: EngineLayout,
  source: Extract<PluginSource, { kind: "bridged" }>,
  lock: unknown,
  context: StepContext,
): Promise<GoBuild> {
  const tfgen = await goBinary(layout, source.tfgen, lock, context);
  const moduleDir = path.join(layout.goModules, source.provider.module);
  const env = goBuildEnv(layout);
  const upstream = JSON.parse(
    await captureChecked(["go", "mod", "download", "-json", source.upstream], { cwd: moduleDir, env }),
  ) as { Dir: string };
  context.status(`${source.tfgen.name} schema`);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `${source.tfgen.name}-`));
  try {
    await runLogged(tfgenArgv(tfgen.file, outDir), {
      cwd: moduleDir,
      env: { ...env, UPSTREAM_REPO_PATH: upstream.Dir },
      log: context.log,
    });
    for (const file of generatedFiles)
      fs.copyFileSync(path.join(outDir, file), path.join(moduleDir, source.provider.package, file));
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
  return tfgen;
}

async function buildPlugin(
  source: PluginSource,
  options: PluginStepOptions,
  context: StepContext,
): Promise<GoBuild> {
  switch (source.kind) {
    case "go":
      return goBinary(options.layout, source.binary, options.lock, context);
    case "bridged": {
      let tfgen: GoBuild | undefined;
      const build = await goBinary(options.layout, source.provider, options.lock, context, async () => {
        tfgen = await generateSchema(options.layout, source, options.lock, context);
      });
      const tfgenFigures = tfgen?.figures ?? {};
      const figures: Record<string, number> = { ...build.figures };
      for (const [key, value] of Object.entries(tfgenFigures)) figures[`tfgen.${key}`] = value;
      // The step's peak is the larger of its two builds'.
      if (tfgenFigures.peakRssMb !== undefined)
        figures.peakRssMb = Math.max(figures.peakRssMb ?? 0, tfgenFigures.peakRssMb);
      return { ...build, figures };
    }
    default: {
      const unknown: never = source;
      throw new Error(`unknown plugin source ${JSON.stringify(unknown)}`);
    }
  }
}

export async function providePlugin(
  plugin: ProviderPlugin,
  options: PluginStepOptions,
  context: StepContext,
): Promise<StepResult> {
  const version = lockedVersion(options.lock, plugin.npm);
  if (version === undefined) throw new Error(`package-lock.json has no ${plugin.npm}`);
  const build = await buildPlugin(plugin.source, options, context);
  const registered = await registerPlugin({
    pulumi: options.pulumi,
    env: options.env,
    pulumiHome: options.layout.pulumiHome,
    name: plugin.name,
    version,
    file: build.file,
    log: context.log,
  });
  return {
    outcome: build.outcome === "cached" && registered === "present" ? "present" : build.outcome,
    detail: `resource plugin ${plugin.name} ${version}, registered in ${options.layout.pulumiHome}`,
    figures: build.figures,
  };
}
