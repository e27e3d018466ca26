"use strict";

const { describeError, withTimeout } = require("./errors");
const { appliedVersions, listMigrations } = require("./migrations");
const { pingRedis } = require("./redis-ping");

const STATUS_CODES = { healthy: 200, degraded: 206, unhealthy: 503 };

async function checkDatabase(pool, timeoutMs) {
  if (!pool) return { ok: false, detail: "DATABASE_URL not set" };
  try {
    await withTimeout(pool.query("SELECT 1"), timeoutMs);
    return { ok: true, detail: "ok" };
  } catch (err) {
    return { ok: false, detail: describeError(err) };
  }
}

/** Resolves to `{ state: "up-to-date" | "pending" | "unknown", detail }`. */
async function checkMigrations(pool, migrationsDir, timeoutMs) {
  let migrations;
  try {
    migrations = await listMigrations(migrationsDir);
  } catch {
    return { state: "unknown", detail: "migrations directory unreadable" };
  }
  try {
    const applied = await withTimeout(appliedVersions(pool), timeoutMs);
    const pending = migrations.filter((m) => !applied.has(m.version)).map((m) => m.version);
    return pending.length === 0
      ? { state: "up-to-date", detail: `${migrations.length} applied` }
      : { state: "pending", detail: `${pending.length} pending: ${pending.join(", ")}` };
  } catch (err) {
    return { state: "unknown", detail: describeError(err) };
  }
}

async function checkRedis(redisUrl, timeoutMs) {
  if (!redisUrl) return { state: "not-configured", ok: true, detail: "REDIS_URL not set" };
  const { ok, detail } = await pingRedis(redisUrl, timeoutMs);
  return { state: ok ? "connected" : "disconnected", ok, detail };
}

/**
 * Builds the /health handler. Every check runs concurrently and is bounded by
 * `timeoutMs`, so a black-holed dependency cannot stall the orchestrator's probe.
 */
function createHealthCheck({ pool, redisUrl, migrationsDir, version, slot, timeoutMs }) {
  return async function health() {
    const [database, migrations, redis] = await Promise.all([
      checkDatabase(pool, timeoutMs),
      checkMigrations(pool, migrationsDir, timeoutMs),
      checkRedis(redisUrl, timeoutMs),
    ]);
    // Without a database the migrations query failing says nothing new.
    const migrationState = database.ok ? migrations.state : "unknown";
    const migrationDetail = database.ok ? migrations.detail : "database unavailable";

    let status = "healthy";
    if (!database.ok) status = "unhealthy";
    else if (!redis.ok || migrationState !== "up-to-date") status = "degraded";

    const body = {
      status,
      version,
      slot,
      database: database.ok ? "connected" : "disconnected",
      redis: redis.state,
      migrations: migrationState,
      uptime: process.uptime(),
      checks: [
        { name: "database", status: database.ok ? "pass" : "fail", detail: database.detail },
        { name: "redis", status: redis.ok ? "pass" : "fail", detail: redis.detail },
        {
          name: "migrations",
          status: migrationState === "up-to-date" ? "pass" : "fail",
          detail: migrationDetail,
        },
      ],
    };
    return { statusCode: STATUS_CODES[status], body };
  };
}

module.exports = { createHealthCheck };
