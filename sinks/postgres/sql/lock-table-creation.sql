-- Serialises workers creating the same table: concurrent CREATE TABLE IF NOT EXISTS can still collide on
-- the catalog's unique indexes.
SELECT pg_advisory_xact_lock(hashtext($1))
