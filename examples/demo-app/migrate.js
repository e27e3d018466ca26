"use strict";

// Usage: node migrate.js            apply pending migrations
//        node migrate.js --status   list applied/pending; exit 3 if any are pending
const fs = require("node:fs/promises");
const path = require("node:path");
const { Client } = require("pg");
const { describeError, redact } = require("./lib/errors");
const { TABLE_DDL, appliedVersions, listMigrations } = require("./lib/migrations");

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const EXIT_PENDING = 3;
// Arbitrary but fixed: every migrate run of this app contends for the same advisory lock.
const LOCK_KEY = "7346298451";
// A deploy should fail loudly rather than hang behind a stuck migration run.
const LOCK_TIMEOUT = "60s";

class MigrateError extends Error {}

async function connect(databaseUrl) {
  const client = new Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: 10_000,
    application_name: "switchyard-demo-migrate",
  });
  // A dropped connection after connect() would otherwise be an unhandled 'error' event.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new MigrateError(`cannot connect to database: ${describeError(err)}`);
  }
  return client;
}

async function readMigrations(dir) {
  try {
    return await listMigrations(dir);
  } catch (err) {
    throw new MigrateError(`cannot read migrations directory: ${err.code || "unknown error"}`);
  }
}

async function status(client, migrations) {
  const applied = await appliedVersions(client);
  const pending = migrations.filter((m) => !applied.has(m.version));
  for (const m of migrations) console.log(`${applied.has(m.version) ? "applied" : "pending"}  ${m.file}`);
  console.log(`${migrations.length - pending.length} applied, ${pending.length} pending`);
  return pending.length === 0 ? 0 : EXIT_PENDING;
}

async function acquireLock(client) {
  const { rows } = await client.query("SELECT pg_try_advisory_lock($1::bigint) AS locked", [LOCK_KEY]);
  if (rows[0].locked) return;
  console.log("another migration run holds the lock; waiting");
  await client.query(`SET lock_timeout = '${LOCK_TIMEOUT}'`);
  try {
    await client.query("SELECT pg_advisory_lock($1::bigint)", [LOCK_KEY]);
  } catch (err) {
    throw new MigrateError(`could not acquire migration lock: ${describeError(err)}`);
  }
  await client.query("RESET lock_timeout");
}

async function applyOne(client, migration, secrets) {
  const sql = await fs.readFile(migration.path, "utf8");
  try {
    await client.query("BEGIN");
    // No parameters: pg uses the simple protocol, which allows several statements per file.
    await client.query(sql);
    await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [migration.version]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    const sqlstate = err.code ? ` (SQLSTATE ${err.code})` : "";
    throw new MigrateError(`${migration.file} failed: ${redact(err.message, secrets)}${sqlstate}`);
  }
}

async function apply(client, migrations, secrets) {
  // Held for the whole run: a second concurrent run waits, then sees our rows and applies nothing.
  await acquireLock(client);
  await client.query(TABLE_DDL);
  const applied = await appliedVersions(client);
  const pending = migrations.filter((m) => !applied.has(m.version));
  for (const migration of pending) {
    await applyOne(client, migration, secrets);
    console.log(`applied  ${migration.file}`);
  }
  console.log(
    pending.length === 0
      ? "up to date"
      : `applied ${pending.length} migration${pending.length === 1 ? "" : "s"}, 0 pending`,
  );
  return 0;
}

function secretsOf(databaseUrl) {
  const url = new URL(databaseUrl);
  return [databaseUrl, decodeURIComponent(url.password), url.password];
}

async function main(argv, env) {
  const statusOnly = argv.includes("--status");
  if (argv.some((arg) => arg !== "--status")) {
    console.error("usage: node migrate.js [--status]");
    return EXIT_USAGE;
  }
  if (!env.DATABASE_URL) {
    console.error("migrate: DATABASE_URL is not set");
    return EXIT_USAGE;
  }
  if (!URL.canParse(env.DATABASE_URL)) {
    console.error("migrate: DATABASE_URL is not a valid URL");
    return EXIT_USAGE;
  }
  const migrationsDir = env.MIGRATIONS_DIR || path.join(__dirname, "migrations");
  const secrets = secretsOf(env.DATABASE_URL);
  const migrations = await readMigrations(migrationsDir);
  const client = await connect(env.DATABASE_URL);
  try {
    return statusOnly ? await status(client, migrations) : await apply(client, migrations, secrets);
  } finally {
    await client.end().catch(() => {});
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const reason = err instanceof MigrateError ? err.message : `unexpected failure: ${describeError(err)}`;
    console.error(`migrate: ${reason}`);
    process.exitCode = EXIT_FAILURE;
  },
);
