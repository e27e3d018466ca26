"use strict";

const fs = require("node:fs/promises");
const path = require("node:path");

const TABLE_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** `*.sql` files in `dir`, in the order they must be applied. */
async function listMigrations(dir) {
  const names = await fs.readdir(dir);
  return names
    .filter((name) => name.endsWith(".sql"))
    .sort()
    .map((file) => ({ file, version: file.slice(0, -".sql".length), path: path.join(dir, file) }));
}

/** Versions recorded in schema_migrations; empty when the table does not exist yet. */
async function appliedVersions(queryable) {
  try {
    const { rows } = await queryable.query("SELECT version FROM schema_migrations");
    return new Set(rows.map((row) => row.version));
  } catch (err) {
    if (err.code === "42P01") return new Set();
    throw err;
  }
}

module.exports = { TABLE_DDL, listMigrations, appliedVersions };
