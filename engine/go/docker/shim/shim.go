// Package shim hands the upstream provider's constructor to the bridge. It exists because the
// constructor lives under the provider's internal/ directory: Go lets a package import an
// internal/ tree only from beneath its parent, by import path, so this package's path sits under
// the provider's module path (its go.mod says so) while its files are ours.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider is the upstream SDKv2 provider, as the official plugin bridges it. The upstream
// binary also muxes in a Plugin Framework provider; its resources are not part of @pulumi/docker.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
