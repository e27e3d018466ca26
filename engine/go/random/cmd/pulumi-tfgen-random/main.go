// pulumi-tfgen-random writes the Pulumi schema and the bridge metadata of our random mapping; the
// engine embeds both in pulumi-resource-random. UPSTREAM_REPO_PATH names the upstream provider's
// module directory, whose docs become the schema's descriptions.
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	random "switchyard/engine/random"
)

func main() {
	info := random.Provider([]byte("{}"))
	info.UpstreamRepoPath = os.Getenv("UPSTREAM_REPO_PATH")
	tfgen.Main("random", info)
}
