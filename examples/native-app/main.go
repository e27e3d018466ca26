// Command native-app is the demo app as a native binary, for the `systemd` slot runtime: a
// systemd unit runs it on the target host and the router reaches it on the loopback port.
//
// Environment:
//
//	PORT          required; it listens on 127.0.0.1:$PORT only
//	APP_VERSION   reported by / and /health (default 0.0.0-dev)
//	SLOT          reported by / and /health (default unknown)
//	DATABASE_URL  postgres://user:password@host:port/db; /health dials host:port (1 s) and
//	              answers 503 when it cannot. The URL is never printed: it holds the password.
//
// SIGTERM or SIGINT stop it gracefully: in-flight requests get 10 s to finish.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const (
	dialTimeout   = time.Second
	shutdownGrace = 10 * time.Second
	// Longer than nginx's default upstream keepalive_timeout (60 s): the proxy, not the app,
	// closes idle connections, so it never reuses one the app just dropped.
	idleTimeout = 65 * time.Second
)

type config struct {
	port    int
	version string
	slot    string
	// database is host:port from DATABASE_URL, or "" when it is unset or not a postgres URL.
	database string
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// databaseAddress is host:port of a postgres URL (port 5432 unless it names one), or "".
// Errors are not returned: url.Parse's would quote the URL, password and all.
func databaseAddress(raw string) string {
	if raw == "" {
		return ""
	}
	parsed, err := url.Parse(raw)
	if err != nil || (parsed.Scheme != "postgres" && parsed.Scheme != "postgresql") || parsed.Hostname() == "" {
		return ""
	}
	port := parsed.Port()
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(parsed.Hostname(), port)
}

func readConfig() (config, error) {
	port, err := strconv.Atoi(os.Getenv("PORT"))
	if err != nil || port < 1 || port > 65535 {
		return config{}, errors.New("PORT must be set to a port number (1-65535)")
	}
	cfg := config{
		port:     port,
		version:  envOr("APP_VERSION", "0.0.0-dev"),
		slot:     envOr("SLOT", "unknown"),
		database: databaseAddress(os.Getenv("DATABASE_URL")),
	}
	if os.Getenv("DATABASE_URL") != "" && cfg.database == "" {
		log.Print("DATABASE_URL is not a postgres://user:password@host:port/db URL; /health will answer 503")
	}
	return cfg, nil
}

type health struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Slot     string `json:"slot"`
	Database string `json:"database"`
}

func databaseReachable(ctx context.Context, address string) bool {
	if address == "" {
		return false
	}
	dialer := net.Dialer{Timeout: dialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func handler(cfg config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		body := health{Status: "ok", Version: cfg.version, Slot: cfg.slot, Database: "ok"}
		code := http.StatusOK
		if !databaseReachable(r.Context(), cfg.database) {
			body.Status, body.Database, code = "unhealthy", "unreachable", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "native-app %s %s\n", cfg.version, cfg.slot)
	})
	// Every answer says who gave it, as the demo app's do: the tests tell slots apart by these.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Slot", cfg.slot)
		w.Header().Set("X-App-Version", cfg.version)
		mux.ServeHTTP(w, r)
	})
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("native-app: ")
	cfg, err := readConfig()
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port))
	listener, err := net.Listen("tcp", address)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	server := &http.Server{
		Handler:           handler(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	log.Printf("listening on %s, version %s, slot %s", address, cfg.version, cfg.slot)

	select {
	case err := <-served:
		log.Print(err)
		os.Exit(1)
	case <-ctx.Done():
	}
	log.Print("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		log.Printf("in-flight requests did not finish within %s: %v", shutdownGrace, err)
		os.Exit(1)
	}
	log.Print("stopped")
}
