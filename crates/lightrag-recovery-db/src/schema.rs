// @generated shape: matches `diesel print-schema` for migrations/postgres; migrations/sqlite
// declares the same tables and columns. Every `*_at` / `retention_until` column is UTC unix
// milliseconds.

diesel::table! {
    backup_metadata (snapshot_id) {
        snapshot_id -> Text,
        graph_id -> Text,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        status -> Text,
        trigger_kind -> Text,
        logical_size_bytes -> BigInt,
        stored_size_bytes -> BigInt,
        file_count -> BigInt,
        chunk_count -> BigInt,
        manifest_hash -> Nullable<Text>,
        duration_ms -> Nullable<BigInt>,
        error_message -> Nullable<Text>,
        retention_until -> Nullable<BigInt>,
        verified_at -> Nullable<BigInt>,
        verification_ok -> Nullable<Bool>,
        verification_error -> Nullable<Text>,
        summary_json -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        occurred_at -> BigInt,
        kind -> Text,
        event_type -> Text,
        severity -> Text,
        graph_id -> Nullable<Text>,
        target_id -> Nullable<Text>,
        recovery_point_id -> Nullable<Text>,
        snapshot_id -> Nullable<Text>,
        duration_ms -> Nullable<BigInt>,
        bytes -> Nullable<BigInt>,
        message -> Text,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    graphs (id) {
        id -> Text,
        path -> Text,
        source -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    health_check_events (id) {
        id -> BigInt,
        checked_at -> BigInt,
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
        created_at -> BigInt,
        description -> Text,
        created_by -> Nullable<Text>,
        validated -> Bool,
        validated_at -> Nullable<BigInt>,
        validation_error -> Nullable<Text>,
    }
}

diesel::table! {
    replication_state (target_id, graph_id) {
        target_id -> Text,
        graph_id -> Text,
        last_synced_snapshot_id -> Nullable<Text>,
        last_sync_at -> Nullable<BigInt>,
        lag_ms -> Nullable<BigInt>,
        bytes_synced -> BigInt,
        consecutive_failures -> Integer,
        last_error -> Nullable<Text>,
        updated_at -> BigInt,
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
        created_at -> BigInt,
        updated_at -> BigInt,
        last_health_check_at -> Nullable<BigInt>,
        last_status -> Nullable<Text>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(recovery_point_snapshots -> backup_metadata (snapshot_id));
diesel::joinable!(recovery_point_snapshots -> recovery_points (recovery_point_id));
diesel::joinable!(replication_state -> replication_targets (target_id));

diesel::allow_tables_to_appear_in_same_query!(
    backup_metadata,
    events,
    graphs,
    health_check_events,
    recovery_point_snapshots,
    recovery_points,
    replication_state,
    replication_targets,
);
