-- Tables of the current schema named <base>_ followed by 8 digits: the daily shards of <base>.
SELECT tablename
FROM pg_catalog.pg_tables
WHERE schemaname = current_schema()
  AND length(tablename) = length($1) + 9
  AND starts_with(tablename, $1 || '_')
  AND right(tablename, 8) ~ '^[0-9]{8}$'
ORDER BY tablename
