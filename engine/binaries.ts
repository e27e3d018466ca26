/** The CLI and its language host, built from the wrapper modules `engine/go/pulumi` and `engine/go/language-nodejs`. */
import type { GoBinary } from "./go";

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
