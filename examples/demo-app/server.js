"use strict";

const http = require("node:http");
const { Pool } = require("pg");
const { readConfig } = require("./lib/config");
const { renderDocs } = require("./lib/docs");
const { describeError } = require("./lib/errors");
const { createHealthCheck } = require("./lib/health");
const { log } = require("./lib/log");
const { METRICS_CONTENT_TYPE, createMetrics } = require("./lib/metrics");

const CHECK_TIMEOUT_MS = 1000;
// Longer than nginx's default upstream keepalive_timeout (60 s), so the proxy,
// not the app, closes idle connections and never reuses one we just dropped.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
// docker stop sends SIGKILL after 10 s; leave time to close the pool and log.
const SHUTDOWN_GRACE_MS = 8000;

function createPool(databaseUrl) {
  if (!databaseUrl) return undefined;
  const pool = new Pool({
    connectionString: databaseUrl,
    max: 5,
    connectionTimeoutMillis: CHECK_TIMEOUT_MS,
    query_timeout: CHECK_TIMEOUT_MS,
    statement_timeout: CHECK_TIMEOUT_MS,
    idleTimeoutMillis: 10_000,
    application_name: "switchyard-demo",
  });
  // Idle clients are terminated when the server restarts; without a listener
  // the pool's 'error' event would crash the process.
  pool.on("error", (err) => log("warn", "idle database connection lost", { reason: describeError(err) }));
  return pool;
}

function send(res, statusCode, contentType, text, state) {
  res.statusCode = statusCode;
  res.setHeader("Content-Type", contentType);
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Slot", state.config.slot);
  res.setHeader("X-App-Version", state.config.version);
  if (state.shuttingDown) res.setHeader("Connection", "close");
  res.end(text);
}

function sendJson(res, statusCode, body, state) {
  send(res, statusCode, "application/json; charset=utf-8", JSON.stringify(body), state);
}

function createHandler(state, health) {
  let lastHealth;
  const { version, slot, healthPath } = state.config;
  const metrics = createMetrics({ version, slot, routes: ["/", healthPath, "/docs", "/metrics"] });
  return async function handle(req, res) {
    const path = (req.url || "/").split("?")[0];
    const readable = req.method === "GET" || req.method === "HEAD";
    metrics.count(path);
    try {
      if (readable && path === state.config.healthPath) {
        const { statusCode, body } = await health();
        if (body.status !== lastHealth) {
          log(body.status === "healthy" ? "info" : "warn", "health changed", {
            status: body.status,
            checks: body.checks,
          });
          lastHealth = body.status;
        }
        return sendJson(res, statusCode, body, state);
      }
      if (readable && path === "/") {
        return sendJson(
          res,
          200,
          { app: "switchyard-demo", version: state.config.version, slot: state.config.slot },
          state,
        );
      }
      if (readable && path === "/docs") {
        return send(res, 200, "text/html; charset=utf-8", renderDocs(state.config), state);
      }
      if (readable && path === "/metrics") {
        return send(res, 200, METRICS_CONTENT_TYPE, metrics.render(), state);
      }
      return sendJson(res, 404, { error: "not found" }, state);
    } catch (err) {
      log("error", "request failed", { path, reason: describeError(err) });
      return sendJson(res, 500, { error: "internal error" }, state);
    }
  };
}

function installShutdown(server, pool, state) {
  const shutdown = (signal) => {
    if (state.shuttingDown) return;
    state.shuttingDown = true;
    log("info", "shutting down", { signal });
    setTimeout(() => {
      log("error", "in-flight requests did not finish in time", { graceMs: SHUTDOWN_GRACE_MS });
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    // close() waits for in-flight requests; idle keep-alive sockets would otherwise hold it open.
    server.close(async () => {
      await pool?.end().catch((err) => log("warn", "closing pool failed", { reason: describeError(err) }));
      log("info", "stopped");
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

function main() {
  let config;
  try {
    config = readConfig(process.env);
  } catch (err) {
    log("error", "invalid configuration", { reason: err.message });
    process.exit(2);
  }
  const state = { config, shuttingDown: false };
  const pool = createPool(config.databaseUrl);
  const health = createHealthCheck({
    pool,
    redisUrl: config.redisUrl,
    migrationsDir: config.migrationsDir,
    version: config.version,
    slot: config.slot,
    timeoutMs: CHECK_TIMEOUT_MS,
  });

  const server = http.createServer(createHandler(state, health));
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Must exceed keepAliveTimeout or Node may cut a connection mid-request.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  server.on("error", (err) => {
    log("error", "server error", { code: err.code });
    process.exit(1);
  });
  installShutdown(server, pool, state);
  server.listen(config.port, config.host, () => {
    const { port } = server.address();
    log("info", "listening", { host: config.host, port, version: config.version, slot: config.slot });
  });
}

main();
