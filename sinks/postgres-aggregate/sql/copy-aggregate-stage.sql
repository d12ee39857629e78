-- Aggregate rows into the staging table, as COPY text.
COPY sluice_aggregate_stage ($COLUMNS) FROM STDIN
