// @generated automatically by Diesel CLI.

diesel::table! {
    backup_metadata (snapshot_id) {
        snapshot_id -> Text,
        graph_id -> Text,
        created_at -> Int8,
        finished_at -> Nullable<Int8>,
        status -> Text,
        trigger_kind -> Text,
        logical_size_bytes -> Int8,
        stored_size_bytes -> Int8,
        file_count -> Int8,
        chunk_count -> Int8,
        manifest_hash -> Nullable<Text>,
        duration_ms -> Nullable<Int8>,
        error_message -> Nullable<Text>,
        retention_until -> Nullable<Int8>,
        verified_at -> Nullable<Int8>,
        verification_ok -> Nullable<Bool>,
        verification_error -> Nullable<Text>,
        summary_json -> Nullable<Text>,
        consistent -> Nullable<Bool>,
        inconsistency -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        occurred_at -> Int8,
        kind -> Text,
        event_type -> Text,
        severity -> Text,
        graph_id -> Nullable<Text>,
        target_id -> Nullable<Text>,
        recovery_point_id -> Nullable<Text>,
        snapshot_id -> Nullable<Text>,
        duration_ms -> Nullable<Int8>,
        bytes -> Nullable<Int8>,
        message -> Text,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    event_rollups (span_ms, bucket_ms, graph_id, kind, event_type, severity) {
        span_ms -> Int8,
        bucket_ms -> Int8,
        graph_id -> Text,
        kind -> Text,
        event_type -> Text,
        severity -> Text,
        n -> Int8,
        n_duration -> Int8,
        bytes -> Int8,
    }
}

diesel::table! {
    graphs (id) {
        id -> Text,
        path -> Text,
        source -> Text,
        created_at -> Int8,
        updated_at -> Int8,
    }
}

diesel::table! {
    health_check_events (id) {
        id -> Int8,
        checked_at -> Int8,
        component_type -> Text,
        component_id -> Text,
        status -> Text,
        message -> Nullable<Text>,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_point_snapshots (recovery_point_id, graph_id) {
        recovery_point_id -> Text,
        graph_id -> Text,
        snapshot_id -> Text,
    }
}

diesel::table! {
    recovery_points (id) {
        id -> Text,
        created_at -> Int8,
        description -> Text,
        created_by -> Nullable<Text>,
        validated -> Bool,
        validated_at -> Nullable<Int8>,
        validation_error -> Nullable<Text>,
    }
}

diesel::table! {
    replication_state (target_id, graph_id) {
        target_id -> Text,
        graph_id -> Text,
        last_synced_snapshot_id -> Nullable<Text>,
        last_sync_at -> Nullable<Int8>,
        lag_ms -> Nullable<Int8>,
        bytes_synced -> Int8,
        consecutive_failures -> Int4,
        last_error -> Nullable<Text>,
        updated_at -> Int8,
        forgotten_since -> Nullable<Text>,
    }
}

diesel::table! {
    replication_targets (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        url -> Text,
        secret -> Nullable<Text>,
        enabled -> Bool,
        created_at -> Int8,
        updated_at -> Int8,
        last_health_check_at -> Nullable<Int8>,
        last_status -> Nullable<Text>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(recovery_point_snapshots -> backup_metadata (snapshot_id));
diesel::joinable!(recovery_point_snapshots -> recovery_points (recovery_point_id));
diesel::joinable!(replication_state -> replication_targets (target_id));

diesel::allow_tables_to_appear_in_same_query!(
    backup_metadata,
    event_rollups,
    events,
    graphs,
    health_check_events,
    recovery_point_snapshots,
    recovery_points,
    replication_state,
    replication_targets,
);
