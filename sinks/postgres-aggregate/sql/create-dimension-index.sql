-- The dashboard's lookup index, built in the foreground: used on a table just created or ensured.
CREATE INDEX IF NOT EXISTS $INDEX ON $TABLE ($COLUMNS)
