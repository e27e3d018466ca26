// Command s3-standin stands in for MinIO (quay.io/minio/minio) where MinIO cannot be built (it is
// AGPL): an S3-compatible server from gofakes3 (MIT) that takes MinIO's own command line, so a
// stack's `command: [server, /data, --console-address, ":9001"]` runs unchanged. `npm run engine`
// builds it into .engine/bin/s3-standin and the `s3` image runs it as /usr/bin/minio.
//
// Usage (as MinIO's):
//
//	minio server <data dir> [--address <addr>] [--console-address <addr>]
//	minio --version
//
// A leading `minio` argument is dropped, as the official image's entrypoint does, so
// `command: [minio, server, /data]` also runs unchanged.
//
//   - It serves the S3 API, path-style, on --address (default :9000, every address).
//   - Everything is stored in one bbolt file, <data dir>/.s3-standin.db (gofakes3's s3bolt
//     backend): buckets and objects survive a restart. It creates nothing else.
//   - GET or HEAD /minio/health/live, /minio/health/ready and /minio/health/cluster answer 200
//     (MinIO's probes); anything else under /minio/ is 404, as MinIO keeps that bucket name.
//   - MINIO_ROOT_USER and MINIO_ROOT_PASSWORD are read and checked at start as MinIO checks them:
//     both unset is minioadmin/minioadmin; once either is set both must be, at least 3 and 8
//     characters, or it exits 1. They are NOT checked against requests: gofakes3 does not verify
//     AWS signatures, so any request is served, signed with any key or not signed at all. The
//     start line says so.
//   - --console-address is accepted and ignored: there is no console. The start line says so.
//
// SIGTERM or SIGINT stop it: in-flight requests get 5 s, then the database is closed.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"
)

const (
	defaultAddress = ":9000"
	databaseFile   = ".s3-standin.db"
	// Another server holding the file (two containers on one volume) is an error, not a wait.
	lockTimeout   = 10 * time.Second
	shutdownGrace = 5 * time.Second
	version       = "s3-standin (gofakes3 v1.2.0), standing in for MinIO"
	usage         = "usage: minio server <data dir> [--address <addr>] [--console-address <addr>]"
)

type config struct {
	dataDir        string
	address        string
	consoleAddress string
}

// parseArgs reads MinIO's command line: `server`, one data directory, and the two address flags
// in any order, as `--flag value` or `--flag=value` (one dash works too, as with MinIO).
func parseArgs(args []string) (config, error) {
	if len(args) > 0 && args[0] == "minio" {
		args = args[1:]
	}
	if len(args) == 0 || args[0] != "server" {
		return config{}, errors.New(usage)
	}
	cfg := config{address: defaultAddress}
	var dirs []string
	for i := 1; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			dirs = append(dirs, arg)
			continue
		}
		name, value, inline := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		var target *string
		switch name {
		case "address":
			target = &cfg.address
		case "console-address":
			target = &cfg.consoleAddress
		default:
			return config{}, fmt.Errorf("flag %s is not supported by this stand-in; %s", arg, usage)
		}
		if !inline {
			if i+1 >= len(args) {
				return config{}, fmt.Errorf("flag %s needs a value; %s", arg, usage)
			}
			i++
			value = args[i]
		}
		*target = value
	}
	if len(dirs) != 1 {
		return config{}, fmt.Errorf("exactly one data directory, not %d (no erasure sets here); %s", len(dirs), usage)
	}
	cfg.dataDir = dirs[0]
	return cfg, nil
}

// credentials are MinIO's root user and password, checked as MinIO checks them at start: unset,
// both are minioadmin; once either is set, both must be, the user at least 3 characters and the
// password at least 8. They are never compared with a request's signature (gofakes3 cannot).
// It returns the root user as the start line names it.
func credentials() (user string, err error) {
	user, userSet := os.LookupEnv("MINIO_ROOT_USER")
	password, passwordSet := os.LookupEnv("MINIO_ROOT_PASSWORD")
	if !userSet && !passwordSet {
		return "minioadmin (the default)", nil
	}
	if len(user) < 3 || len(password) < 8 {
		return "", errors.New("unable to validate credentials inherited from the shell environment: " +
			"MINIO_ROOT_USER needs at least 3 characters and MINIO_ROOT_PASSWORD at least 8 (both must be set)")
	}
	return user, nil
}

// isHealthPath is whether path is one of MinIO's health probes.
func isHealthPath(path string) bool {
	switch path {
	case "/minio/health/live", "/minio/health/ready", "/minio/health/cluster", "/minio/health/cluster/read":
		return true
	}
	return false
}

// handler answers MinIO's probes and hands everything else to the S3 API. Not a ServeMux: it
// would clean paths and redirect, and S3 keys may hold `//` and `..`.
func handler(s3 http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if path != "/minio" && !strings.HasPrefix(path, "/minio/") {
			s3.ServeHTTP(w, r)
			return
		}
		if isHealthPath(path) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	})
}

func run(args []string) error {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-v" || args[0] == "version") {
		fmt.Println("minio version", version)
		return nil
	}
	cfg, err := parseArgs(args)
	if err != nil {
		return err
	}
	user, err := credentials()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(cfg.dataDir, databaseFile)
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("opening %s: %w (is another server using %s?)", file, err, cfg.dataDir)
	}
	defer db.Close()
	s3 := gofakes3.New(s3bolt.New(db), gofakes3.WithLogger(gofakes3.GlobalLog(gofakes3.LogErr)))

	listener, err := net.Listen("tcp", cfg.address)
	if err != nil {
		return err
	}
	console := "no console"
	if cfg.consoleAddress != "" {
		console = fmt.Sprintf("--console-address %s ignored: no console", cfg.consoleAddress)
	}
	log.Printf("%s: S3 API on %s, data in %s; root user %s, but request signatures are NOT checked (any request is served); %s",
		version, listener.Addr(), file, user, console)

	server := &http.Server{Handler: handler(s3.Server()), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return server.Shutdown(shutdown)
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	if err := run(os.Args[1:]); err != nil {
		log.Printf("s3-standin: %v", err)
		os.Exit(1)
	}
}
