/**
 * What the snapshot, migration and CLI tests share: a seeded database, a fingerprint of its
 * contents that a restore must reproduce exactly, and cleanups that run even when a test fails.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SnapshotLocation } from "../../components/providers/snapshotStore";
import type { PgServer } from "./postgres";

/** Undone in reverse order; every step runs even when an earlier one fails. */
export class Cleanups {
  private steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    const errors: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
  }
}

export function temporaryDirectory(cleanups: Cleanups, prefix = "switchyard-snapshots-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Snapshots of `database` on the test server, taken from this machine without a container. */
export function localLocation(
  pg: PgServer,
  database: string,
  directory: string,
  stack = "test",
): SnapshotLocation {
  return {
    owner: { project: "switchyard", stack },
    directory,
    access: {
      commandPrefix: [],
      host: pg.host,
      port: pg.port,
      user: pg.superuser,
      database,
    },
  };
}

/**
 * A small shop: customers, orders (a foreign key, nulls, numerics), events (jsonb, arrays,
 * identity), an index and a view; `scale` multiplies the row counts (1 = 28,000 rows).
 */
export async function seedShop(pg: PgServer, database: string, scale = 1): Promise<void> {
  const customers = 5000 * scale;
  await pg.query(
    database,
    `CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, created_at timestamptz NOT NULL);
     INSERT INTO customers (email, created_at)
       SELECT 'user' || g || '@example.com', timestamptz '2026-01-01 00:00Z' + g * interval '1 minute'
       FROM generate_series(1, ${customers}) g;
     CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
                          total numeric(10, 2) NOT NULL, note text);
     INSERT INTO orders (customer_id, total, note)
       SELECT 1 + g % ${customers}, (g % 997) * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END
       FROM generate_series(1, ${20000 * scale}) g;
     CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL, tags text[]);
     INSERT INTO events (payload, tags)
       SELECT jsonb_build_object('n', g, 'kind', CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END), ARRAY['t' || g % 10]
       FROM generate_series(1, ${3000 * scale}) g;
     CREATE INDEX orders_by_customer ON orders (customer_id);
     CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 1000;`,
  );
}

/** Adds a table of `megabytes` of hard-to-compress text, for dumps that take a while and fill disks. */
export async function addBulk(pg: PgServer, database: string, megabytes: number): Promise<void> {
  const rows = Math.ceil((megabytes * 1024 * 1024) / 100);
  await pg.query(
    database,
    `CREATE TABLE bulk AS
       SELECT g AS id, md5(g::text) || md5((g::bigint * 7919)::text) || md5((g::bigint * 104729)::text) AS body
       FROM generate_series(1, ${rows}) g`,
  );
}

export interface TableFingerprint {
  rows: number;
  checksum: string;
}

/** Per table: row count and an md5 over every row in a fixed order; per sequence: its last value; plus views. */
export async function fingerprint(pg: PgServer, database: string): Promise<Record<string, unknown>> {
  const tables = await pg.query<{ name: string }>(
    database,
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
  );
  const result: Record<string, unknown> = {};
  for (const { name } of tables) {
    const [row] = await pg.query<TableFingerprint>(
      database,
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS checksum FROM "${name}" t`,
    );
    result[`table ${name}`] = row;
  }
  for (const { name, value } of await pg.query<{
    name: string;
    value: string | null;
  }>(
    database,
    "SELECT sequencename AS name, last_value::text AS value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
  )) {
    result[`sequence ${name}`] = value;
  }
  for (const { name } of await pg.query<{ name: string }>(
    database,
    "SELECT viewname AS name FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
  )) {
    result[`view ${name}`] = true;
  }
  return result;
}

export function fileSha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Every entry of a directory (hidden ones too) with the sha256 of its contents. */
export function directoryContents(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((name) => [name, fileSha256(path.join(dir, name))]),
  );
}
