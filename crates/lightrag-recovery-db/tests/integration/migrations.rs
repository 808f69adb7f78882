//! Migrations: up → down → up on both backends, with the schema checked in between.

use diesel::prelude::*;
use diesel::sql_types::Text;
use lightrag_recovery_db::*;

use super::support::TestDb;

crate::both_backends!(migrations_up_down_up);

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

const TABLES: [&str; 9] = [
    "backup_metadata",
    "event_rollups",
    "events",
    "graphs",
    "health_check_events",
    "recovery_point_snapshots",
    "recovery_points",
    "replication_state",
    "replication_targets",
];

fn names(conn: &mut DbConn, sqlite: &str, pg: &str) -> Vec<String> {
    let rows: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sqlite).load(c),
        DbConn::Postgres(c) => diesel::sql_query(pg).load(c),
    }
    .unwrap();
    let mut v: Vec<String> = rows.into_iter().map(|r| r.name).collect();
    v.sort();
    v
}

fn tables(conn: &mut DbConn) -> Vec<String> {
    names(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '__diesel_schema_migrations'",
        "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations'",
    )
}

fn event_indexes(conn: &mut DbConn) -> Vec<String> {
    names(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL",
        "SELECT indexname::text AS name FROM pg_indexes WHERE tablename = 'events' AND indexname <> 'events_pkey'",
    )
}

fn migrations_up_down_up(t: &mut TestDb) {
    let conn = &mut *t.db().conn().unwrap();
    assert_eq!(applied_migrations(conn).unwrap().len(), 4);
    assert!(pending_migrations(conn).unwrap().is_empty());
    assert_eq!(tables(conn), TABLES);
    assert_eq!(
        event_indexes(conn),
        [
            "events_graph_cover_idx",
            "events_kind_duration_idx",
            "events_kind_time_idx",
            "events_severity_time_idx",
            "events_time_cover_idx"
        ]
    );
    create_graph(
        conn,
        &NewGraph {
            id: "g".into(),
            path: "/p".into(),
            source: GraphSource::Api,
        },
    )
    .unwrap();

    let mut reverted = revert_all_migrations(conn).unwrap();
    assert_eq!(reverted.len(), 4);
    // Reverted newest first; pending and applied are listed oldest first.
    reverted.reverse();
    assert!(tables(conn).is_empty(), "down.sql drops every table");
    assert_eq!(pending_migrations(conn).unwrap(), reverted);
    assert!(list_graphs(conn, &GraphFilter::default(), Page::default()).is_err());

    let applied = run_migrations(conn).unwrap();
    assert_eq!(applied, reverted);
    assert_eq!(tables(conn), TABLES);
    assert!(
        list_graphs(conn, &GraphFilter::default(), Page::default())
            .unwrap()
            .is_empty()
    );
    assert!(
        run_migrations(conn).unwrap().is_empty(),
        "second run is a no-op"
    );

    // The schema works after the round trip (a write touching FKs and an autoincrement id).
    create_graph(
        conn,
        &NewGraph {
            id: "g".into(),
            path: "/p".into(),
            source: GraphSource::Api,
        },
    )
    .unwrap();
    insert_event(
        conn,
        &NewEvent::new(EventKind::System, "x", Severity::Info, "after re-up"),
    )
    .unwrap();
    assert_eq!(count_events(conn, &EventFilter::default()).unwrap(), 1);
}

fn columns(conn: &mut DbConn, table: &str) -> Vec<String> {
    names(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}')"),
        &format!(
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{table}'"
        ),
    )
}

/// migrations/sqlite and migrations/postgres must declare the same columns.
#[test]
fn sqlite_and_postgres_schemas_have_the_same_columns() {
    let sqlite = TestDb::sqlite();
    let pg = TestDb::postgres();
    let s = &mut *sqlite.db().conn().unwrap();
    let p = &mut *pg.db().conn().unwrap();
    for table in TABLES {
        let cols = columns(s, table);
        assert!(!cols.is_empty(), "{table}");
        assert_eq!(cols, columns(p, table), "columns of {table}");
    }
}
