// pulumi-resource-random is the random provider plugin: the upstream Terraform provider through
// the bridge, with the schema tfgen generated for our mapping.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	random "switchyard/engine/random"
)

// Written by pulumi-tfgen-random next to this file before the build (not committed).
var (
	//go:embed schema.json
	schema []byte
	//go:embed bridge-metadata.json
	metadata []byte
)

func main() {
	pf.Main(context.Background(), "random", random.Provider(metadata), pf.ProviderMetadata{PackageSchema: schema})
}
