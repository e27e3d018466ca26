/**
 * The CLI and its language host, built from the wrapper modules `engine/go/pulumi` and
 * `engine/go/language-nodejs`, the repository's own Go programs, Caddy from `engine/go/caddy`,
 * and Pebble's two programs from the wrapper module `engine/go/pebble`.
 */
import type { GoBinary, GoProgram } from "./go";

/** Stamped with the pkg/v3 release its wrapper requires; `osusergo,grpcnotrace` are the release build's tags. */
export const cli: GoBinary = {
  name: "pulumi",
  module: "pulumi",
  package: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
  version: { from: "module", module: "github.com/pulumi/pulumi/pkg/v3" },
  versionVariable: "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version",
  tags: ["osusergo", "grpcnotrace"],
};

export const languageHost: GoBinary = {
  name: "pulumi-language-nodejs",
  module: "language-nodejs",
  package: "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3",
  version: { from: "module", module: "github.com/pulumi/pulumi/sdk/v3" },
  versionVariable: "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version",
  tags: [],
};

/** The demo app as a native binary, for the `systemd` slot runtime's tests: `.engine/bin/native-app`. */
export const nativeApp: GoProgram = {
  name: "native-app",
  title: "Native demo app",
  dir: "examples/native-app",
};

/** The S3 server standing in for MinIO (AGPL, not built here), for the `s3` image: `.engine/bin/s3-standin`. */
export const s3Standin: GoProgram = {
  name: "s3-standin",
  title: "S3 stand-in for MinIO",
  dir: "examples/s3-standin",
};

/**
 * Caddy for the `caddy` router kind, for the `caddy` image: `.engine/bin/caddy`. Its module is a
 * program of this repository's (a main package that imports Caddy's standard modules), so it is
 * built like one; the version is the one its go.mod requires, which `caddy version` reports.
 */
export const caddy: GoProgram = {
  name: "caddy",
  title: "Caddy 2.11.9 (router kind caddy)",
  dir: "engine/go/caddy",
};

/**
 * Pebble, Let's Encrypt's ACME test CA, for the tests of ACME certificates: `.engine/bin/pebble`,
 * stamped with the release its wrapper requires (`pebble -version` prints it).
 */
export const pebble: GoBinary = {
  name: "pebble",
  module: "pebble",
  package: "github.com/letsencrypt/pebble/v2/cmd/pebble",
  version: { from: "module", module: "github.com/letsencrypt/pebble/v2" },
  versionVariable: "main.version",
  tags: [],
};

/**
 * Pebble's DNS and challenge test server, from the same release and wrapper as `pebble`: the
 * resolver Pebble validates through (`pebble -dnsserver`), answering what its management API
 * tells it to. It has no version variable; the linker ignores `-X` for a variable a program does
 * not declare, so the build line is the one every GoBinary gets.
 */
export const pebbleChallTestSrv: GoBinary = {
  ...pebble,
  name: "pebble-challtestsrv",
  package: "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv",
};
