-- Additive only, so the slot still running the previous release keeps working
-- while both slots share this database. now() is STABLE, so PostgreSQL stores
-- the default in the catalog instead of rewriting the table.
ALTER TABLE items ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX items_created_at_idx ON items (created_at);
