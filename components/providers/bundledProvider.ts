/**
 * A dynamic provider handed to Pulumi as one bundled text, so that serializing it does not hold
 * up every `pulumi up`.
 *
 * Pulumi keeps a dynamic provider's code in its resources' state by serializing the provider's
 * closure: it parses every function the provider reaches with TypeScript and reads each captured
 * variable through the V8 inspector. The router upstream reaches about 150 functions, and the
 * three providers of a dev stack took 1.2 s of the program's main thread before it registered
 * its first resource. esbuild bundles a provider's module in tens of milliseconds instead, and
 * what Pulumi serializes is a forwarder of a few functions that evaluates that bundle on its
 * first call. The state still holds every line the provider runs, as before: a refresh or a
 * destroy runs the code the resource was last applied with, not whatever is on disk now.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { buildSync } from "esbuild";

type Method = keyof pulumi.dynamic.ResourceProvider;
type Provider = Record<Method, (...args: unknown[]) => unknown>;

/** Bundles by module and export: a stack with several routers or gates bundles each provider once. */
const bundles = new Map<string, string>();

/**
 * The provider's module and what it imports, as one CommonJS text that exports the provider as
 * `provider`. Packages stay `require`s: the host resolves them from the program's directory, as
 * it does for Pulumi's own serialization.
 */
function bundle(modulePath: string, exportName: string): string {
  const key = `${modulePath}#${exportName}`;
  let code = bundles.get(key);
  if (code === undefined) {
    const { outputFiles } = buildSync({
      stdin: {
        contents: `export { ${exportName} as provider } from ${JSON.stringify(`./${path.basename(modulePath)}`)};`,
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
      write: false,
      logLevel: "silent",
    });
    code = outputFiles[0].text;
    bundles.set(key, code);
  }
  return code;
}

/** Runs in the provider host: the bundle as a module, with the host's `require`. */
function evaluate(code: string): Provider {
  const bundleModule = { exports: {} as { provider?: Provider } };
  // The text is this program's own bundled code, read back from the resource's state.
  new Function("module", "exports", "require", code)(bundleModule, bundleModule.exports, require);
  if (!bundleModule.exports.provider) throw new Error("the bundled provider exports no `provider`");
  return bundleModule.exports.provider;
}

/**
 * The provider `exported` names (`{ routerUpstreamProvider }`, exported by `modulePath` under that
 * name), as a forwarder with the same methods that evaluates its bundle once, on first use.
 */
export function bundledProvider<P extends object>(modulePath: string, exported: Record<string, P>): P {
  const [[exportName, provider]] = Object.entries(exported);
  // An object, not a `let`: Pulumi serializes a captured object once for all the functions that
  // share it, but gives each function its own copy of a captured variable.
  const loaded: { code: string; provider?: Provider } = { code: bundle(modulePath, exportName) };
  const load = () => (loaded.provider ??= evaluate(loaded.code));
  const methods = Object.keys(provider) as Method[];
  return Object.fromEntries(
    methods.map((method) => [method, (...args: unknown[]) => load()[method](...args)]),
  ) as P;
}
