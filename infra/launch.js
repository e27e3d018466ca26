/**
 * What the Node.js language host runs (Pulumi.yaml `main`): the TypeScript program, transpiled by
 * esbuild in one pass before its first module loads, with stack traces mapped back to its lines.
 *
 * With `typescript: true` the language host loads TypeScript to read the tsconfig, then ts-node,
 * which transpiles file by file. Pulumi also takes a stack trace of every resource it registers
 * (its source position), and the host maps every frame of it through `source-map-support`, which
 * reads the source maps of each package on the stack; Node's own `--enable-source-maps` instead
 * reads the map of every module as it loads, the SDK's and the providers' too. Either cost more
 * than 0.3 s of each `pulumi up` on an idle machine. Here only the program's own frames are
 * mapped, each file's map parsed on the first frame that needs it.
 * Type checking stays with `npm run typecheck`, as with ts-node's transpile-only mode. The parts
 * of the SDK the program never calls load only if something calls them (deferredSdkModules.js).
 */
"use strict";
const fs = require("node:fs");
const { SourceMap } = require("node:module");
const path = require("node:path");
const { cachedBuild } = require("./cachedBuild");
const { deferUnusedSdkModules } = require("./deferredSdkModules");

const projectRoot = path.join(__dirname, "..");
/** The program's own sources, transpiled together; any other `.ts` it reaches is transpiled alone. */
const programDirectories = ["infra", "components"];

/** Transpiled code and source map by source path: outputs mirror the sources' paths. */
const transpiled = new Map();

function transpile(entryPoints) {
  const outputs = cachedBuild({
    entryPoints,
    absWorkingDir: projectRoot,
    outdir: projectRoot,
    outbase: projectRoot,
    bundle: false,
    platform: "node",
    format: "cjs",
    target: `node${process.versions.node}`,
    sourcemap: "external",
    logLevel: "silent",
  });
  for (const output of outputs) {
    const [, base, extension] = /^(.*)\.(js|js\.map)$/.exec(output.path);
    const entry = transpiled.get(`${base}.ts`) ?? {};
    if (extension === "js") entry.code = output.text;
    else entry.map = output.text;
    transpiled.set(`${base}.ts`, entry);
  }
}

function typeScriptFiles(directory) {
  return fs
    .readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** `fn (file:line:column)` with the TypeScript line and column, for the program's own files. */
function sourcePositioned(callsite) {
  const file = callsite.getFileName();
  const entry = file && transpiled.get(file);
  if (!entry) return callsite.toString();
  entry.sourceMap ??= new SourceMap(JSON.parse(entry.map));
  const line = callsite.getLineNumber();
  const column = callsite.getColumnNumber();
  const { originalLine, originalColumn } = entry.sourceMap.findEntry(line - 1, column - 1);
  if (originalLine === undefined) return callsite.toString();
  return callsite
    .toString()
    .replace(`${file}:${line}:${column}`, `${file}:${originalLine + 1}:${originalColumn + 1}`);
}

transpile(programDirectories.flatMap((directory) => typeScriptFiles(path.join(projectRoot, directory))));

require.extensions[".ts"] = (module, filename) => {
  if (!transpiled.has(filename)) transpile([filename]);
  module._compile(transpiled.get(filename).code, filename);
};
Error.prepareStackTrace = (error, callsites) =>
  [
    Error.prototype.toString.call(error),
    ...callsites.map((callsite) => `    at ${sourcePositioned(callsite)}`),
  ].join("\n");

deferUnusedSdkModules(projectRoot);
module.exports = require("./index.ts");
