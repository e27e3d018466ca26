// Pebble, Let's Encrypt's ACME test CA, and its DNS and challenge test server, built by `npm run
// engine` as `.engine/bin/pebble` and `.engine/bin/pebble-challtestsrv` for the tests of ACME
// certificates, which run a CA of their own on loopback (engine/go.ts stamps the pebble requirement below into pebble's
// `main.version`, which `pebble -version` prints). Both are main packages of the one release, so
// they are two `tool` lines of one wrapper; the other requirements are v2.10.3's own.
module switchyard/engine/pebble

go 1.25.0

tool (
	github.com/letsencrypt/pebble/v2/cmd/pebble
	github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv
)

require (
	github.com/go-jose/go-jose/v4 v4.1.8 // indirect
	github.com/letsencrypt/challtestsrv v1.4.2 // indirect
	github.com/letsencrypt/pebble/v2 v2.10.3 // indirect
	github.com/miekg/dns v1.1.62 // indirect
	golang.org/x/mod v0.24.0 // indirect
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/tools v0.33.0 // indirect
)
