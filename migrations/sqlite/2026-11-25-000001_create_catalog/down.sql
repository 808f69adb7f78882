DROP TABLE events;
DROP TABLE health_check_events;
DROP TABLE replication_state;
DROP TABLE replication_targets;
DROP TABLE recovery_point_snapshots;
DROP TABLE recovery_points;
DROP TABLE backup_metadata;
DROP TABLE graphs;
