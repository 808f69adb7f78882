-- lightrag-ops recovery catalog (SQLite). Every *_at column is UTC unix milliseconds (BIGINT).
-- Keep this file in step with ../../postgres/2026-11-25-000001_create_catalog/up.sql.

CREATE TABLE graphs (
    id          TEXT PRIMARY KEY NOT NULL,
    path        TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('discovered', 'api', 'config')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE backup_metadata (
    snapshot_id         TEXT PRIMARY KEY NOT NULL,
    graph_id            TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    finished_at         BIGINT,
    status              TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    trigger_kind        TEXT NOT NULL
                        CHECK (trigger_kind IN ('manual', 'scheduled', 'pre_restore', 'recovery_point')),
    logical_size_bytes  BIGINT NOT NULL DEFAULT 0,
    stored_size_bytes   BIGINT NOT NULL DEFAULT 0,
    file_count          BIGINT NOT NULL DEFAULT 0,
    chunk_count         BIGINT NOT NULL DEFAULT 0,
    manifest_hash       TEXT,
    duration_ms         BIGINT,
    error_message       TEXT,
    retention_until     BIGINT,
    verified_at         BIGINT,
    verification_ok     BOOLEAN,
    verification_error  TEXT,
    summary_json        TEXT
);
CREATE INDEX backup_metadata_graph_created_idx ON backup_metadata (graph_id, created_at);
CREATE INDEX backup_metadata_created_idx ON backup_metadata (created_at);

CREATE TABLE recovery_points (
    id                TEXT PRIMARY KEY NOT NULL,
    created_at        BIGINT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    created_by        TEXT,
    validated         BOOLEAN NOT NULL DEFAULT FALSE,
    validated_at      BIGINT,
    validation_error  TEXT
);
CREATE INDEX recovery_points_created_idx ON recovery_points (created_at);

-- One pinned snapshot per (recovery point, graph). A pinned snapshot cannot be deleted from the
-- catalog (RESTRICT) while a recovery point references it.
CREATE TABLE recovery_point_snapshots (
    recovery_point_id  TEXT NOT NULL REFERENCES recovery_points (id) ON DELETE CASCADE,
    graph_id           TEXT NOT NULL,
    snapshot_id        TEXT NOT NULL REFERENCES backup_metadata (snapshot_id) ON DELETE RESTRICT,
    PRIMARY KEY (recovery_point_id, graph_id)
);
CREATE INDEX recovery_point_snapshots_snapshot_idx ON recovery_point_snapshots (snapshot_id);
CREATE INDEX recovery_point_snapshots_graph_idx ON recovery_point_snapshots (graph_id);

CREATE TABLE replication_targets (
    id                    TEXT PRIMARY KEY NOT NULL,
    name                  TEXT NOT NULL UNIQUE,
    kind                  TEXT NOT NULL CHECK (kind IN ('path', 'object_store', 'peer')),
    url                   TEXT NOT NULL,
    secret                TEXT,
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    last_health_check_at  BIGINT,
    last_status           TEXT CHECK (last_status IN ('HEALTHY', 'DEGRADED', 'OFFLINE')),
    last_error            TEXT
);

CREATE TABLE replication_state (
    target_id                TEXT NOT NULL REFERENCES replication_targets (id) ON DELETE CASCADE,
    graph_id                 TEXT NOT NULL,
    last_synced_snapshot_id  TEXT,
    last_sync_at             BIGINT,
    lag_ms                   BIGINT,
    bytes_synced             BIGINT NOT NULL DEFAULT 0,
    consecutive_failures     INTEGER NOT NULL DEFAULT 0,
    last_error               TEXT,
    updated_at               BIGINT NOT NULL,
    PRIMARY KEY (target_id, graph_id)
);
CREATE INDEX replication_state_graph_idx ON replication_state (graph_id);

CREATE TABLE health_check_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    checked_at      BIGINT NOT NULL,
    component_type  TEXT NOT NULL
                    CHECK (component_type IN ('graph', 'database', 'repository', 'target')),
    component_id    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('HEALTHY', 'DEGRADED', 'OFFLINE')),
    message         TEXT,
    details         TEXT
);
CREATE INDEX health_check_events_component_idx
    ON health_check_events (component_type, component_id, checked_at);
CREATE INDEX health_check_events_checked_idx ON health_check_events (checked_at);

CREATE TABLE events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at        BIGINT NOT NULL,
    kind               TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    severity           TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    graph_id           TEXT,
    target_id          TEXT,
    recovery_point_id  TEXT,
    snapshot_id        TEXT,
    duration_ms        BIGINT,
    bytes              BIGINT,
    message            TEXT NOT NULL,
    details            TEXT
);
CREATE INDEX events_graph_time_idx ON events (graph_id, occurred_at);
CREATE INDEX events_kind_time_idx ON events (kind, occurred_at);
CREATE INDEX events_severity_time_idx ON events (severity, occurred_at);
CREATE INDEX events_time_idx ON events (occurred_at);
