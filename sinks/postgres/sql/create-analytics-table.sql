-- A raw analytics table (tyk_analytics or a daily shard) with Tyk's columns; no primary key, as in Tyk.
CREATE TABLE IF NOT EXISTS $TABLE (
  $COLUMNS
)
