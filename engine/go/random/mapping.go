// Package random maps the upstream Terraform random provider (Plugin Framework) onto the names
// @pulumi/random uses: every resource as random:index/random<Name>:Random<Name>. The conformance
// test (test/e2e/plugins.test.ts) holds it to the SDK.
package random

import (
	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is stamped by the linker with the @pulumi/random version this plugin stands in for.
var Version string

const (
	pkg    = "random"
	module = "index"
)

// Provider is the mapping. metadata is the bridge metadata tfgen wrote for it ("{}" while tfgen
// itself runs).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         pkg,
		Version:      Version,
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no id attribute; its value is its identity, as in the official plugin.
			"random_bytes": {ComputeID: tfbridge.DelegateIDField("base64", pkg, "switchyard engine/go/random")},
		},
		// What the official plugin enables: previews computed by the provider's own plan, and
		// Terraform's raw state kept beside the Pulumi state.
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	prefixed := func(module, name string) (string, error) {
		return tokens.MakeStandard(pkg)(module, "Random"+name)
	}
	info.MustComputeTokens(tokens.SingleModule("random_", module, prefixed))
	return info
}
