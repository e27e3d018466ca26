/**
 * esbuild's output for the program's start (the launcher's transpile, each dynamic provider's
 * bundle), kept on disk with the content of every file it read. Each `pulumi up` otherwise starts
 * esbuild's worker thread and service and builds again what has not changed: about 0.15 s of the
 * program's main thread on an idle machine, before its first resource. An entry is used only when
 * every file it was built from still has the same content; anything else builds, as if there
 * were no cache, and a cache that cannot be written is no cache.
 */
"use strict";
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const esbuildVersion = require("esbuild/package.json").version;

const projectRoot = path.join(__dirname, "..");
const defaultCacheDir = path.join(projectRoot, "node_modules", ".cache", "switchyard-esbuild");
/** esbuild reads it for the TypeScript it transpiles, but does not list it among the inputs. */
const tsconfig = path.join(projectRoot, "tsconfig.json");

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function contentHash(file) {
  try {
    return sha256(fs.readFileSync(file));
  } catch {
    return "missing";
  }
}

function readEntry(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * Entries unused for a day go when one is written: the builds of copies of the program that are
 * gone (the e2e tests run copies) would otherwise pile up. A hit marks its entry used.
 */
const unusedForMs = 24 * 60 * 60 * 1000;

function pruneUnused(cacheDir) {
  const usedSince = Date.now() - unusedForMs;
  for (const name of fs.readdirSync(cacheDir)) {
    const file = path.join(cacheDir, name);
    if (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs < usedSince) fs.rmSync(file, { force: true });
  }
}

function writeEntry(cacheDir, file, entry) {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    pruneUnused(cacheDir);
    fs.writeFileSync(temporary, JSON.stringify(entry));
    fs.renameSync(temporary, file);
  } catch {
    // Whatever failed, failing to clean up too is no reason to stop the program.
    fs.rm(temporary, { force: true }, () => {});
  }
}

// esbuild itself loads only when something is built.
const buildWithEsbuild = (options) => require("esbuild").buildSync(options);

/** `buildSync(options)` with `write: false`, as `{ path, text }` outputs. */
function cachedBuild(options, { cacheDir = defaultCacheDir, build = buildWithEsbuild } = {}) {
  const workingDir = options.absWorkingDir ?? process.cwd();
  const key = sha256(JSON.stringify([esbuildVersion, workingDir, options]));
  const entryFile = path.join(cacheDir, `${key}.json`);
  const entry = readEntry(entryFile);
  if (entry && Object.entries(entry.inputs).every(([file, hash]) => contentHash(file) === hash)) {
    const now = new Date();
    fs.utimes(entryFile, now, now, () => {});
    return entry.outputs;
  }

  const result = build({ ...options, write: false, metafile: true });
  const read = [
    ...Object.keys(result.metafile.inputs).map((input) => path.resolve(workingDir, input)),
    tsconfig,
  ];
  const outputs = result.outputFiles.map(({ path: outputPath, text }) => ({ path: outputPath, text }));
  writeEntry(cacheDir, entryFile, {
    inputs: Object.fromEntries(read.map((file) => [file, contentHash(file)])),
    outputs,
  });
  return outputs;
}

module.exports = { cachedBuild };
