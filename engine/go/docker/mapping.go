// Package docker maps the upstream Terraform Docker provider onto the names @pulumi/docker uses,
// so that programs written for the official plugin run unchanged against the one built here.
// Every override below is a fact of the official mapping; the conformance test
// (test/e2e/plugins.test.ts) fails when one of them is lost.
package docker

import (
	"context"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is stamped by the linker with the @pulumi/docker version this plugin stands in for.
var Version string

const (
	pkg    = "docker"
	module = "index"
)

// Provider is the mapping. metadata is the bridge metadata tfgen wrote for it ("{}" while tfgen
// itself runs).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(shim.NewProvider(Version)),
		Name:         pkg,
		Version:      Version,
		Description:  "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:     []string{"pulumi", "docker"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-docker",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			// Computed rather than a schema default, so that the SDK falls back to DOCKER_HOST only.
			"host": {Default: &tfbridge.DefaultInfo{
				EnvVars: []string{"DOCKER_HOST"},
				ComputeDefault: func(context.Context, tfbridge.ComputeDefaultOptions) (interface{}, error) {
					return "unix:///var/run/docker.sock", nil
				},
			}},
			// A Terraform set, so plural by the bridge's rules; singular in the official SDK.
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container": {
				Tok: tfbridge.MakeResource(pkg, module, "Container"),
				// A container's name is unique on its host: the replacement cannot start first.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					// One command line, not several commands.
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok: tfbridge.MakeResource(pkg, module, "RemoteImage"),
				// Named here so that autonaming leaves it required: it is what gets pulled.
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_config": {Tok: tfbridge.MakeResource(pkg, module, "ServiceConfig")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: tfbridge.MakeDataSource(pkg, module, "getRemoteImage")},
		},
	}
	// Everything else by the bridge's rule: docker_buildx_builder -> docker:index/buildxBuilder:BuildxBuilder.
	info.MustComputeTokens(tokens.SingleModule("docker_", module, tokens.MakeStandard(pkg)))
	// A resource with a `name` input gets `<resource name>-<random suffix>` when none is given.
	info.SetAutonaming(255, "-")
	return info
}
