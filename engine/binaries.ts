/**
 * The CLI and its language host, built from the wrapper modules `engine/go/pulumi` and
 * `engine/go/language-nodejs`, the repository's own Go programs, and Caddy from `engine/go/caddy`.
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
