-- One of Tyk's single-column indexes, named <table>_idx_<column>.
CREATE INDEX IF NOT EXISTS $INDEX ON $TABLE ($COLUMN)
