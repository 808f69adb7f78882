//! `graphs`: registered LightRAG graphs.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conn::{DbConn, MultiBackend};
use crate::error::{RecoveryDbError, Result};
use crate::schema::graphs;
use crate::text::{check_id, check_text};
use crate::types::{GraphSource, Page, Timestamp};

const ENTITY: &str = "graph";

/// A registered graph.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = graphs, check_for_backend(MultiBackend))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Graph {
    /// Graph id.
    pub id: String,
    /// Workspace directory.
    pub path: String,
    /// How it was registered.
    pub source: GraphSource,
    /// First registration.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Input of [`create_graph`] and [`upsert_graph`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGraph {
    /// Graph id.
    pub id: String,
    /// Workspace directory.
    pub path: String,
    /// How it is registered.
    pub source: GraphSource,
}

/// Changes for [`update_graph`]; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphUpdate {
    /// New workspace directory.
    pub path: Option<String>,
    /// New registration source.
    pub source: Option<GraphSource>,
}

/// Filter of [`list_graphs`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphFilter {
    /// Only graphs registered this way.
    pub source: Option<GraphSource>,
}

#[derive(AsChangeset)]
#[diesel(table_name = graphs)]
struct GraphChanges<'a> {
    path: Option<&'a str>,
    source: Option<GraphSource>,
    updated_at: Timestamp,
}

fn validate(new: &NewGraph) -> Result<()> {
    check_id("graph id", &new.id)?;
    check_id("graph path", &new.path)?;
    check_text("graph path", &new.path)
}

/// Registers a graph. [`RecoveryDbError::Conflict`] if the id exists.
pub fn create_graph(conn: &mut DbConn, new: &NewGraph) -> Result<Graph> {
    validate(new)?;
    let now = Timestamp::now();
    let graph = Graph {
        id: new.id.clone(),
        path: new.path.clone(),
        source: new.source,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(graphs::table)
        .values(&graph)
        .execute(conn)
        .map_err(|e| match RecoveryDbError::from_diesel(ENTITY, e) {
            RecoveryDbError::Conflict { entity, .. } => RecoveryDbError::Conflict {
                entity,
                message: format!("graph `{}` is already registered", new.id),
            },
            other => other,
        })?;
    Ok(graph)
}

/// Registers a graph or updates its path and source (discovery). Keeps `created_at`.
pub fn upsert_graph(conn: &mut DbConn, new: &NewGraph) -> Result<Graph> {
    validate(new)?;
    conn.transaction::<_, RecoveryDbError, _>(|conn| {
        let changed = diesel::update(graphs::table.find(&new.id))
            .set(&GraphChanges {
                path: Some(&new.path),
                source: Some(new.source),
                updated_at: Timestamp::now(),
            })
            .execute(conn)?;
        if changed == 0 {
            create_graph(conn, new)
        } else {
            get_graph(conn, &new.id)
        }
    })
}

/// One graph. [`RecoveryDbError::NotFound`] if absent.
pub fn get_graph(conn: &mut DbConn, id: &str) -> Result<Graph> {
    find_graph(conn, id)?.ok_or_else(|| RecoveryDbError::not_found(ENTITY, id))
}

/// One graph, or `None`.
pub fn find_graph(conn: &mut DbConn, id: &str) -> Result<Option<Graph>> {
    graphs::table
        .find(id)
        .select(Graph::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Graphs ordered by id.
pub fn list_graphs(conn: &mut DbConn, filter: &GraphFilter, page: Page) -> Result<Vec<Graph>> {
    let mut q = graphs::table
        .select(Graph::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(source) = filter.source {
        q = q.filter(graphs::source.eq(source));
    }
    q.order(graphs::id.asc())
        .limit(page.limit_i64())
        .offset(page.offset_i64())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Changes a graph's path or source. [`RecoveryDbError::NotFound`] if absent.
pub fn update_graph(conn: &mut DbConn, id: &str, update: &GraphUpdate) -> Result<Graph> {
    if let Some(path) = &update.path {
        check_id("graph path", path)?;
    }
    let changed = diesel::update(graphs::table.find(id))
        .set(&GraphChanges {
            path: update.path.as_deref(),
            source: update.source,
            updated_at: Timestamp::now(),
        })
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    if changed == 0 {
        return Err(RecoveryDbError::not_found(ENTITY, id));
    }
    get_graph(conn, id)
}

/// Unregisters a graph (its snapshots and events stay). [`RecoveryDbError::NotFound`] if absent.
pub fn delete_graph(conn: &mut DbConn, id: &str) -> Result<()> {
    let n = diesel::delete(graphs::table.find(id))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(ENTITY, id));
    }
    Ok(())
}
