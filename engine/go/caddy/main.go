// Caddy for the `caddy` router kind, built by `npm run engine` into .engine/bin/caddy and copied
// into the `caddy` image: the standard distribution (what the official `caddy` image runs), at
// the version go.mod pins.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
