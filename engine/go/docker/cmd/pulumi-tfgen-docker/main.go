// pulumi-tfgen-docker writes the Pulumi schema and the bridge metadata of our docker mapping; the
// engine embeds both in pulumi-resource-docker. UPSTREAM_REPO_PATH names the upstream provider's
// module directory, whose docs become the schema's descriptions.
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	docker "switchyard/engine/docker"
)

func main() {
	info := docker.Provider([]byte("{}"))
	info.UpstreamRepoPath = os.Getenv("UPSTREAM_REPO_PATH")
	tfgen.Main("docker", docker.Version, info)
}
