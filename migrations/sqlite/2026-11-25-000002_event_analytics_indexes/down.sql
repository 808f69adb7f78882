DROP TRIGGER events_rollup_delete;
DROP TRIGGER events_rollup_insert;
DROP TABLE event_rollups;
CREATE INDEX events_graph_time_idx ON events (graph_id, occurred_at);
CREATE INDEX events_time_idx ON events (occurred_at);
DROP INDEX events_kind_duration_idx;
DROP INDEX events_graph_cover_idx;
DROP INDEX events_time_cover_idx;
