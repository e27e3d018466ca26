// Package shim hands the upstream provider's constructor to the bridge. It exists because the
// constructor lives under the provider's internal/ directory: Go lets a package import an
// internal/ tree only from beneath its parent, by import path, so this package's path sits under
// the provider's module path (its go.mod says so) while its files are ours.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider is the upstream Plugin Framework provider.
func NewProvider() provider.Provider {
	return upstream.New()
}
