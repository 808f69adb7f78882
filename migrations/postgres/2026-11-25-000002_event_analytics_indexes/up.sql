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
