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

-- Exact per-hour and per-day aggregates of the event log, maintained by triggers in the same
-- transaction as every insert/delete (never stale). Analytics over a window read whole days and
-- hours from here and only the sub-hour edges from `events`, so their cost does not grow with
-- the number of events in the window. span_ms is 3600000 (hour) or 86400000 (day); bucket_ms is
-- the bucket's start (unix ms); graph_id '' stands for events without a graph.
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

CREATE TRIGGER events_rollup_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_rollups (span_ms, bucket_ms, graph_id, kind, event_type, severity, n, n_duration, bytes)
    VALUES (3600000, NEW.occurred_at - (NEW.occurred_at % 3600000), COALESCE(NEW.graph_id, ''),
            NEW.kind, NEW.event_type, NEW.severity, 1, NEW.duration_ms IS NOT NULL, COALESCE(NEW.bytes, 0))
    ON CONFLICT (span_ms, bucket_ms, graph_id, kind, event_type, severity) DO UPDATE SET
        n = n + 1, n_duration = n_duration + excluded.n_duration, bytes = bytes + excluded.bytes;
    INSERT INTO event_rollups (span_ms, bucket_ms, graph_id, kind, event_type, severity, n, n_duration, bytes)
    VALUES (86400000, NEW.occurred_at - (NEW.occurred_at % 86400000), COALESCE(NEW.graph_id, ''),
            NEW.kind, NEW.event_type, NEW.severity, 1, NEW.duration_ms IS NOT NULL, COALESCE(NEW.bytes, 0))
    ON CONFLICT (span_ms, bucket_ms, graph_id, kind, event_type, severity) DO UPDATE SET
        n = n + 1, n_duration = n_duration + excluded.n_duration, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER events_rollup_delete AFTER DELETE ON events
BEGIN
    UPDATE event_rollups
       SET n = n - 1, n_duration = n_duration - (OLD.duration_ms IS NOT NULL),
           bytes = bytes - COALESCE(OLD.bytes, 0)
     WHERE span_ms = 3600000 AND bucket_ms = OLD.occurred_at - (OLD.occurred_at % 3600000)
       AND graph_id = COALESCE(OLD.graph_id, '') AND kind = OLD.kind
       AND event_type = OLD.event_type AND severity = OLD.severity;
    UPDATE event_rollups
       SET n = n - 1, n_duration = n_duration - (OLD.duration_ms IS NOT NULL),
           bytes = bytes - COALESCE(OLD.bytes, 0)
     WHERE span_ms = 86400000 AND bucket_ms = OLD.occurred_at - (OLD.occurred_at % 86400000)
       AND graph_id = COALESCE(OLD.graph_id, '') AND kind = OLD.kind
       AND event_type = OLD.event_type AND severity = OLD.severity;
END;

-- Rollups of events already stored.
INSERT INTO event_rollups (span_ms, bucket_ms, graph_id, kind, event_type, severity, n, n_duration, bytes)
SELECT s.span_ms, e.occurred_at - (e.occurred_at % s.span_ms), COALESCE(e.graph_id, ''), e.kind,
       e.event_type, e.severity, COUNT(*), COUNT(e.duration_ms), COALESCE(SUM(e.bytes), 0)
  FROM events e CROSS JOIN (SELECT 3600000 AS span_ms UNION ALL SELECT 86400000) s
 GROUP BY 1, 2, 3, 4, 5, 6;
