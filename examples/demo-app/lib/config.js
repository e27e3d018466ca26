"use strict";

const path = require("node:path");

const SLOTS = new Set(["blue", "green"]);

/** Reads the environment once at startup; throws on values that would make the app misbehave silently. */
function readConfig(env) {
  const port = env.PORT ? Number(env.PORT) : 3000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error("PORT must be an integer 0-65535");
  const slot = env.SLOT || "unknown";
  if (env.SLOT && !SLOTS.has(slot)) throw new Error("SLOT must be blue or green");
  // The messages name the variable, never its value: both may embed a password.
  if (env.DATABASE_URL && !URL.canParse(env.DATABASE_URL)) throw new Error("DATABASE_URL is not a valid URL");
  if (env.REDIS_URL && !(URL.canParse(env.REDIS_URL) && new URL(env.REDIS_URL).protocol === "redis:")) {
    throw new Error("REDIS_URL must be a redis:// URL");
  }
  const healthPath = env.HEALTH_PATH || "/health";
  if (!/^\/\S*$/.test(healthPath)) throw new Error("HEALTH_PATH must be a path starting with /");
  return {
    port,
    healthPath,
    host: env.HOST || "0.0.0.0",
    version: env.APP_VERSION || "0.0.0-dev",
    slot,
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    migrationsDir: env.MIGRATIONS_DIR || path.join(__dirname, "..", "migrations"),
  };
}

module.exports = { readConfig };
