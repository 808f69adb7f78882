-- Indexes for the event-log analytics (lightrag-monitoring). Keep in step with the other backend.
-- Window aggregates (counts per kind/type/severity, bytes, durations) read only these indexes.
CREATE INDEX events_time_cover_idx
    ON events (occurred_at, kind, event_type, severity, duration_ms, bytes);
CREATE INDEX events_graph_cover_idx
    ON events (graph_id, occurred_at, kind, event_type, severity, duration_ms, bytes);
-- Duration percentiles over wide windows walk this index in duration order.
CREATE INDEX events_kind_duration_idx
    ON events (kind, duration_ms, occurred_at) WHERE duration_ms IS NOT NULL;
-- The covering indexes start with the same columns: the old ones are redundant.
DROP INDEX events_time_idx;
DROP INDEX events_graph_time_idx;

-- Exact per-hour and per-day aggregates of the event log, maintained by statement-level triggers
-- in the same transaction as every insert/delete (never stale). Analytics over a window read
-- whole days and hours from here and only the sub-hour edges from `events`, so their cost does
-- not grow with the number of events in the window. span_ms is 3600000 (hour) or 86400000
-- (day); bucket_ms is the bucket's start (unix ms); graph_id '' stands for events without a graph.
CREATE TABLE event_rollups (
    span_ms     BIGINT NOT NULL,
    bucket_ms   BIGINT NOT NULL,
    graph_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    severity    TEXT NOT NULL,
    n           BIGINT NOT NULL,
    n_duration  BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    PRIMARY KEY (span_ms, bucket_ms, graph_id, kind, event_type, severity)
);
CREATE INDEX event_rollups_graph_idx ON event_rollups (graph_id, span_ms, bucket_ms);

CREATE FUNCTION events_rollup_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_rollups AS r (span_ms, bucket_ms, graph_id, kind, event_type, severity, n, n_duration, bytes)
    SELECT s.span_ms, e.occurred_at - mod(e.occurred_at, s.span_ms), COALESCE(e.graph_id, ''),
           e.kind, e.event_type, e.severity, COUNT(*), COUNT(e.duration_ms), COALESCE(SUM(e.bytes), 0)
      FROM new_rows e CROSS JOIN (VALUES (3600000::bigint), (86400000::bigint)) AS s (span_ms)
     GROUP BY 1, 2, 3, 4, 5, 6
     -- Key order: concurrent inserters lock rollup rows in the same order (no deadlocks).
     ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (span_ms, bucket_ms, graph_id, kind, event_type, severity) DO UPDATE SET
        n = r.n + EXCLUDED.n, n_duration = r.n_duration + EXCLUDED.n_duration,
        bytes = r.bytes + EXCLUDED.bytes;
    RETURN NULL;
END $$;

CREATE FUNCTION events_rollup_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE event_rollups r
       SET n = r.n - d.n, n_duration = r.n_duration - d.n_duration, bytes = r.bytes - d.bytes
      FROM (SELECT s.span_ms, e.occurred_at - mod(e.occurred_at, s.span_ms) AS bucket_ms,
                   COALESCE(e.graph_id, '') AS graph_id, e.kind, e.event_type, e.severity,
                   COUNT(*) AS n, COUNT(e.duration_ms) AS n_duration, COALESCE(SUM(e.bytes), 0) AS bytes
              FROM old_rows e CROSS JOIN (VALUES (3600000::bigint), (86400000::bigint)) AS s (span_ms)
             GROUP BY 1, 2, 3, 4, 5, 6) d
     WHERE r.span_ms = d.span_ms AND r.bucket_ms = d.bucket_ms AND r.graph_id = d.graph_id
       AND r.kind = d.kind AND r.event_type = d.event_type AND r.severity = d.severity;
    RETURN NULL;
END $$;

CREATE TRIGGER events_rollup_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION events_rollup_add();
CREATE TRIGGER events_rollup_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION events_rollup_remove();

-- Rollups of events already stored.
INSERT INTO event_rollups (span_ms, bucket_ms, graph_id, kind, event_type, severity, n, n_duration, bytes)
SELECT s.span_ms, e.occurred_at - mod(e.occurred_at, s.span_ms), COALESCE(e.graph_id, ''), e.kind,
       e.event_type, e.severity, COUNT(*), COUNT(e.duration_ms), COALESCE(SUM(e.bytes), 0)
  FROM events e CROSS JOIN (VALUES (3600000::bigint), (86400000::bigint)) AS s (span_ms)
 GROUP BY 1, 2, 3, 4, 5, 6;
