/**
 * Provider plugins for the npm packages the program imports. Each is either built from a wrapper
 * module and registered as the version its npm package asks for, or — where the Go module proxy
 * here serves no commit of its provider module — reported as unavailable, with the proxy's own
 * answer checked on every run so the report stays true.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type GoBinary, goBinary, lockedVersion } from "./go";
import type { EngineLayout } from "./layout";
import { registerPlugin } from "./pulumi";
import { capture } from "./shell";
import type { StepContext, StepResult } from "./steps";

export type PluginSource =
  | { kind: "go"; binary: GoBinary }
  | {
      kind: "unavailable";
      /** The provider module and the pseudo-version of the nearest release commit we know of. */
      module: string;
      release: { version: string; moduleVersion: string };
      /** What was tried beyond that commit. */
      tried: string;
    };

export interface ProviderPlugin {
  /** Plugin name, as in `pulumi-resource-<name>`. */
  name: string;
  /** The npm package whose version the plugin must have. */
  npm: string;
  source: PluginSource;
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
  {
    name: "docker",
    npm: "@pulumi/docker",
    source: {
      kind: "unavailable",
      module: "github.com/pulumi/pulumi-docker/provider/v5",
      release: { version: "5.1.0", moduleVersion: "v5.0.0-20260626165050-e944612c4c97" },
      tried: "all 3,579 commits of pulumi-docker as provider/v3, v4 and v5",
    },
  },
  {
    name: "random",
    npm: "@pulumi/random",
    source: {
      kind: "unavailable",
      module: "github.com/pulumi/pulumi-random/provider/v4",
      release: { version: "4.21.1", moduleVersion: "v4.0.0-20260722185042-f2d8b029d0f7" },
      tried: "all 3,587 commits of pulumi-random as provider/v3 and v4",
    },
  },
];

/** What the Go module proxy says of `module@version`: undefined when it serves it, else its error. */
export async function proxyRefusal(
  module: string,
  version: string,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  // Outside any module, so the question touches no go.mod; the answer is cached in GOMODCACHE.
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-proxy-"));
  try {
    const result = await capture(["go", "mod", "download", "-json", `${module}@${version}`], { cwd, env });
    if (result.code === 0) return undefined;
    const answer = (JSON.parse(result.stdout || "{}") as { Error?: string }).Error ?? result.stderr.trim();
    return answer.replace(/\s+/g, " ").trim();
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

export interface PluginStepOptions {
  layout: EngineLayout;
  lock: unknown;
  /** The `pulumi` to register with, and the environment it runs in (the project's PULUMI_HOME). */
  pulumi: string;
  env: NodeJS.ProcessEnv;
  goEnv: NodeJS.ProcessEnv;
}

export async function providePlugin(
  plugin: ProviderPlugin,
  options: PluginStepOptions,
  context: StepContext,
): Promise<StepResult> {
  const version = lockedVersion(options.lock, plugin.npm);
  if (version === undefined) throw new Error(`package-lock.json has no ${plugin.npm}`);
  const source = plugin.source;
  switch (source.kind) {
    case "go": {
      const build = await goBinary(options.layout, source.binary, options.lock, context);
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
    case "unavailable": {
      const refusal = await proxyRefusal(source.module, source.release.moduleVersion, options.goEnv);
      const asked = `${source.module} at v${source.release.version}'s commit`;
      const detail = refusal
        ? `not built: the Go module proxy refuses ${asked} (${refusal}); refused too: ${source.tried}. ` +
          `Programs that use ${plugin.npm} ${version} cannot run on this machine.`
        : `not built: ${asked} is served now — add a wrapper module engine/go/${plugin.name} to build ${plugin.npm} ${version}`;
      return { outcome: "unavailable", detail };
    }
    default: {
      const unknown: never = source;
      throw new Error(`unknown plugin source ${JSON.stringify(unknown)}`);
    }
  }
}
