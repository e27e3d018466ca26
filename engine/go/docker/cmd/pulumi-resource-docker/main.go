// pulumi-resource-docker is the Docker provider plugin: the upstream Terraform provider through
// the bridge, with the schema tfgen generated for our mapping.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	docker "switchyard/engine/docker"
)

// Written by pulumi-tfgen-docker next to this file before the build (not committed).
var (
	//go:embed schema.json
	schema []byte
	//go:embed bridge-metadata.json
	metadata []byte
)

func main() {
	tfbridge.Main("docker", docker.Version, docker.Provider(metadata), schema)
}
