/**
 * `@pulumi/pulumi`'s index loads three parts of the SDK that this program never calls: closure
 * serialization (it loads TypeScript, whose compiling alone takes 170 ms), code paths (npm's
 * Arborist) and the Automation API. Together they are more than half of the modules the SDK's
 * index loads, and about 0.4 s of every `pulumi up` on an idle machine; the dynamic resources
 * register their own bundles (components/providers/bundledProvider.ts), so nothing here needs
 * them. Each gets a stand-in in the module cache that loads the real module the first time
 * anything of it is used: a program that does use one still gets it, only later.
 */
"use strict";
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

/**
 * Each deferred module by its path in the SDK, with the functions its importers read while they
 * load (`runtime/index.js` copies them onto its exports): the stand-in forwards those calls.
 */
const deferred = {
  "runtime/closure/serializeClosure.js": ["serializeFunctionAsync", "serializeFunction"],
  "runtime/closure/codePaths.js": ["computeCodePaths"],
  "automation/index.js": [],
};

function standIn(file, forwardedFunctions) {
  let real;
  const load = () => {
    if (real === undefined) {
      delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  const forwarders = new Map(forwardedFunctions.map((name) => [name, (...args) => load()[name](...args)]));
  const module = new Module(file);
  module.filename = file;
  module.loaded = true;
  // `__esModule` answered without loading: `__importStar` asks it of the Automation API.
  module.exports = new Proxy(
    {},
    {
      get: (_, key) => (key === "__esModule" ? true : (forwarders.get(key) ?? load()[key])),
      has: (_, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const descriptor = Object.getOwnPropertyDescriptor(load(), key);
        return descriptor && { ...descriptor, configurable: true };
      },
    },
  );
  return module;
}

/**
 * Puts the stand-ins in place for the SDK that `projectRoot` resolves, before anything loads its
 * index. A module already loaded, or no longer at its path in a later SDK, is left as it is.
 */
function deferUnusedSdkModules(projectRoot) {
  const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [projectRoot] }));
  for (const [relative, forwardedFunctions] of Object.entries(deferred)) {
    const file = path.join(sdk, relative);
    if (require.cache[file] === undefined && fs.existsSync(file))
      require.cache[file] = standIn(file, forwardedFunctions);
  }
}

module.exports = { deferUnusedSdkModules };
