-- Merges a chunk of aggregate rows into $TABLE: one array parameter per column, so the number of bind
-- parameters does not grow with the rows. Ids are unique within a chunk (merged beforehand).
-- Averages are divided here from the totals, on insert as on conflict, so a row holds the same digits
-- whatever the batches it was merged from. On conflict the counts, sums and byte/connection counters add
-- up, maxima take the greater, last_time the later; minima follow the in-memory model
-- (src/aggregate/counter.ts): a side with non-error hits outranks an error-only side, which outranks a
-- side without hits, and equal ranks take the lesser. The human identifier is the one of the later
-- last_time (ties: the greater in byte order, whatever the database's collation, as the in-memory model
-- compares them). Ids, labels, org, dimension and timestamp keep the existing values.
INSERT INTO $TABLE AS t (
  id, counter_hits, counter_success, counter_error, counter_request_time, counter_total_request_time,
  counter_identifier, counter_human_identifier, counter_last_time,
  counter_open_connections, counter_closed_connections, counter_bytes_in, counter_bytes_out,
  counter_max_upstream_latency, counter_min_upstream_latency, counter_total_upstream_latency, counter_upstream_latency,
  counter_max_latency, counter_min_latency, counter_total_latency, counter_latency,
  counter_error_map, counter_error_list,
  "timestamp", org_id, dimension, dimension_value,
  code_1x, code_200, code_201, code_2x, code_301, code_302, code_303, code_304, code_3x,
  code_400, code_401, code_403, code_404, code_429, code_4x, code_500, code_501, code_502, code_503, code_504, code_5x
)
SELECT
  id, hits, success, error, COALESCE(total_request_time / NULLIF(hits, 0), 0), total_request_time,
  identifier, human_identifier, last_time,
  open_connections, closed_connections, bytes_in, bytes_out,
  max_upstream_latency, min_upstream_latency, total_upstream_latency,
  COALESCE(total_upstream_latency::decimal / NULLIF(hits, 0), 0),
  max_latency, min_latency, total_latency, COALESCE(total_latency::decimal / NULLIF(hits, 0), 0),
  '{}', '[]',
  ts, org_id, dimension, dimension_value,
  c1x, c200, c201, c2x, c301, c302, c303, c304, c3x,
  c400, c401, c403, c404, c429, c4x, c500, c501, c502, c503, c504, c5x
FROM unnest(
  $1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::decimal[],
  $6::text[], $7::text[], $8::timestamptz[],
  $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
  $13::bigint[], $14::bigint[], $15::bigint[],
  $16::bigint[], $17::bigint[], $18::bigint[],
  $19::bigint[], $20::text[], $21::text[], $22::text[],
  $23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[], $28::bigint[], $29::bigint[],
  $30::bigint[], $31::bigint[], $32::bigint[], $33::bigint[], $34::bigint[], $35::bigint[], $36::bigint[],
  $37::bigint[], $38::bigint[], $39::bigint[], $40::bigint[], $41::bigint[], $42::bigint[], $43::bigint[]
) AS r(
  id, hits, success, error, total_request_time,
  identifier, human_identifier, last_time,
  open_connections, closed_connections, bytes_in, bytes_out,
  max_upstream_latency, min_upstream_latency, total_upstream_latency,
  max_latency, min_latency, total_latency,
  ts, org_id, dimension, dimension_value,
  c1x, c200, c201, c2x, c301, c302, c303, c304, c3x,
  c400, c401, c403, c404, c429, c4x, c500, c501, c502, c503, c504, c5x
)
ON CONFLICT (id) DO UPDATE SET
  counter_hits                   = t.counter_hits + excluded.counter_hits,
  counter_success                = t.counter_success + excluded.counter_success,
  counter_error                  = t.counter_error + excluded.counter_error,
  counter_total_request_time     = t.counter_total_request_time + excluded.counter_total_request_time,
  counter_total_latency          = t.counter_total_latency + excluded.counter_total_latency,
  counter_total_upstream_latency = t.counter_total_upstream_latency + excluded.counter_total_upstream_latency,
  counter_request_time     = COALESCE((t.counter_total_request_time + excluded.counter_total_request_time)::decimal
                                      / NULLIF(t.counter_hits + excluded.counter_hits, 0), 0),
  counter_latency          = COALESCE((t.counter_total_latency + excluded.counter_total_latency)::decimal
                                      / NULLIF(t.counter_hits + excluded.counter_hits, 0), 0),
  counter_upstream_latency = COALESCE((t.counter_total_upstream_latency + excluded.counter_total_upstream_latency)::decimal
                                      / NULLIF(t.counter_hits + excluded.counter_hits, 0), 0),
  counter_open_connections   = t.counter_open_connections + excluded.counter_open_connections,
  counter_closed_connections = t.counter_closed_connections + excluded.counter_closed_connections,
  counter_bytes_in           = t.counter_bytes_in + excluded.counter_bytes_in,
  counter_bytes_out          = t.counter_bytes_out + excluded.counter_bytes_out,
  counter_max_latency          = GREATEST(t.counter_max_latency, excluded.counter_max_latency),
  counter_max_upstream_latency = GREATEST(t.counter_max_upstream_latency, excluded.counter_max_upstream_latency),
  (counter_min_latency, counter_min_upstream_latency) = (
    SELECT
      CASE WHEN rank.existing = rank.incoming THEN LEAST(t.counter_min_latency, excluded.counter_min_latency)
           WHEN rank.existing > rank.incoming THEN t.counter_min_latency
           ELSE excluded.counter_min_latency END,
      CASE WHEN rank.existing = rank.incoming THEN LEAST(t.counter_min_upstream_latency, excluded.counter_min_upstream_latency)
           WHEN rank.existing > rank.incoming THEN t.counter_min_upstream_latency
           ELSE excluded.counter_min_upstream_latency END
    FROM (SELECT
            CASE WHEN t.counter_hits > t.counter_error THEN 2 WHEN t.counter_hits > 0 THEN 1 ELSE 0 END AS existing,
            CASE WHEN excluded.counter_hits > excluded.counter_error THEN 2 WHEN excluded.counter_hits > 0 THEN 1 ELSE 0 END AS incoming
         ) AS rank
  ),
  counter_human_identifier = CASE
    WHEN excluded.counter_last_time > t.counter_last_time THEN excluded.counter_human_identifier
    WHEN excluded.counter_last_time < t.counter_last_time THEN t.counter_human_identifier
    ELSE GREATEST(t.counter_human_identifier COLLATE "C", excluded.counter_human_identifier COLLATE "C") END,
  counter_last_time = GREATEST(t.counter_last_time, excluded.counter_last_time),
  code_1x  = t.code_1x  + excluded.code_1x,  code_200 = t.code_200 + excluded.code_200,
  code_201 = t.code_201 + excluded.code_201, code_2x  = t.code_2x  + excluded.code_2x,
  code_301 = t.code_301 + excluded.code_301, code_302 = t.code_302 + excluded.code_302,
  code_303 = t.code_303 + excluded.code_303, code_304 = t.code_304 + excluded.code_304,
  code_3x  = t.code_3x  + excluded.code_3x,  code_400 = t.code_400 + excluded.code_400,
  code_401 = t.code_401 + excluded.code_401, code_403 = t.code_403 + excluded.code_403,
  code_404 = t.code_404 + excluded.code_404, code_429 = t.code_429 + excluded.code_429,
  code_4x  = t.code_4x  + excluded.code_4x,  code_500 = t.code_500 + excluded.code_500,
  code_501 = t.code_501 + excluded.code_501, code_502 = t.code_502 + excluded.code_502,
  code_503 = t.code_503 + excluded.code_503, code_504 = t.code_504 + excluded.code_504,
  code_5x  = t.code_5x  + excluded.code_5x
