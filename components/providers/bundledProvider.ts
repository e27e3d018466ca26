/**
 * Dynamic resources whose provider goes to Pulumi as one esbuild bundle, so that no `pulumi up`
 * waits for Pulumi to serialize a closure.
 *
 * `pulumi.dynamic.Resource` stores its provider's code in the resource's `__provider` input by
 * serializing a closure: it loads TypeScript to parse every function the provider reaches and
 * reads each captured variable through the V8 inspector. For the router upstream alone that
 * reached about 150 functions; for the dev stack's three providers it held the program's main
 * thread 1.2 s before its first resource, and 0.27 s even for a forwarder of two functions,
 * most of it loading TypeScript. The dynamic provider host needs no closure, only a CommonJS
 * text whose `handler()` returns the provider (`@pulumi/pulumi/cmd/dynamic-provider`): esbuild
 * bundles the provider's module into exactly that, in tens of milliseconds. The state still holds
 * every line a provider runs, so a refresh or a destroy runs the code the resource was last
 * applied with, not whatever is on disk now.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { cachedBuild } from "../../infra/cachedBuild";

/** The input the dynamic provider host reads its provider from. */
const providerKey = "__provider";

/** Bundles by module and export: a stack with several routers or gates bundles each provider once. */
const bundles = new Map<string, string>();

/**
 * The provider `exported` names (`{ routerUpstreamProvider }`, exported by `modulePath` under that
 * name), as the module and what it imports in one CommonJS text whose `handler()` returns it.
 * Packages stay `require`s: the host resolves them from the program's directory. A name the
 * module does not export fails here, at program time, not at the provider's first call.
 */
export function bundledProvider(
  modulePath: string,
  exported: Record<string, pulumi.dynamic.ResourceProvider>,
): string {
  const [exportName] = Object.keys(exported);
  const key = `${modulePath}#${exportName}`;
  let code = bundles.get(key);
  if (code === undefined) {
    const [output] = cachedBuild({
      stdin: {
        contents: [
          `import { ${exportName} } from ${JSON.stringify(`./${path.basename(modulePath)}`)};`,
          `export const handler = () => ${exportName};`,
        ].join("\n"),
        resolveDir: path.dirname(modulePath),
        // Not a module's name, which would shadow the module it imports.
        sourcefile: `${path.basename(modulePath)}#${exportName}`,
        // Plain JavaScript, so that a missing export is an error, not a type TypeScript would elide.
        loader: "js",
      },
      bundle: true,
      platform: "node",
      format: "cjs",
      target: `node${process.versions.node}`,
      packages: "external",
      logLevel: "silent",
    });
    code = output.text;
    bundles.set(key, code);
  }
  return code;
}

/**
 * A `pulumi.dynamic.Resource` with its provider's code given as `bundledProvider`'s text: the same
 * resource type and inputs, so stacks keep their resources, without the closure serialization.
 */
export abstract class BundledResource extends pulumi.CustomResource {
  constructor(
    provider: string,
    name: string,
    props: pulumi.Inputs,
    opts: pulumi.CustomResourceOptions | undefined,
    module: string,
    type: string,
  ) {
    super(`pulumi-nodejs:dynamic/${module}:${type}`, name, { ...props, [providerKey]: provider }, opts);
  }
}
