//! The plan's integration demo: the lightrag-ops crates embedded in another Rust program,
//! without the server. Run with `cargo run -p lightrag-ops --example integration_demo
//! [LIGHTRAG_WORKING_DIR]`; without an argument it writes a tiny LightRAG workspace to a temp
//! dir first. Everything happens in a temp dir: the repository, the SQLite catalog.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use lightrag_backup::{InitOptions, LocalStorage, Repository, VerifyOptions};
use lightrag_recovery::{
    CreatePointRequest, HealthMonitor, HealthOptions, RecoveryManager, RecoveryOptions,
};
use lightrag_recovery_db::{BackupTrigger, Db, DbConfig};

fn tiny_workspace(dir: &std::path::Path) -> anyhow::Result<()> {
    let ws = dir.join("demo");
    std::fs::create_dir_all(&ws)?;
    std::fs::write(
        ws.join("kv_store_full_docs.json"),
        r#"{"doc-1": {"content": "A Christmas Carol"}}"#,
    )?;
    std::fs::write(
        ws.join("kv_store_text_chunks.json"),
        r#"{"chunk-1": {"content": "Marley was dead", "full_doc_id": "doc-1"}}"#,
    )?;
    std::fs::write(
        ws.join("kv_store_doc_status.json"),
        r#"{"doc-1": {"status": "processed"}}"#,
    )?;
    // One 4-dim vector, as NanoVectorDB stores it (base64 of little-endian float32 rows).
    std::fs::write(
        ws.join("vdb_entities.json"),
        r#"{"embedding_dim": 4, "data": [{"__id__": "ent-1", "entity_name": "SCROOGE"}], "matrix": "AACAPwAAAAAAAAAAAAAAAA=="}"#,
    )?;
    std::fs::write(
        ws.join("graph_chunk_entity_relation.graphml"),
        r#"<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">
<node id="SCROOGE"/><node id="MARLEY"/><edge source="SCROOGE" target="MARLEY"/>
</graph></graphml>
"#,
    )?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let working_dir = match std::env::args().nth(1) {
        Some(d) => PathBuf::from(d),
        None => {
            let d = tmp.path().join("rag_storage");
            tiny_workspace(&d)?;
            d
        }
    };

    // 1. The catalog (SQLite here; a postgres:// URL works the same) with its migrations.
    let db_url = format!("sqlite:///{}", tmp.path().join("recovery.db").display());
    let db = Db::connect(&DbConfig::new(db_url))?;
    db.migrate()?;

    // 2. The repository.
    let repo = Repository::init(
        Arc::new(LocalStorage::new(tmp.path().join("backups"))),
        &InitOptions::default(),
        None,
    )?;

    // 3. Graphs under the working dir, each backed up into the repository and the catalog.
    let found = lightrag_recovery::discover_graphs(&working_dir)?;
    anyhow::ensure!(
        !found.graphs.is_empty(),
        "no LightRAG graph under {}",
        working_dir.display()
    );
    let manager = RecoveryManager::new(
        db.clone(),
        RecoveryOptions {
            roots: vec![working_dir.clone()],
            ..RecoveryOptions::default()
        },
    );
    for g in &found.graphs {
        let s = manager
            .backup_graph(&repo, &g.id, BackupTrigger::Manual)
            .with_context(|| format!("backing up {}", g.id))?;
        println!(
            "backed up {:<12} snapshot {} ({} files, {} bytes, {} entities)",
            g.id,
            s.snapshot.id,
            s.snapshot.totals.files,
            s.snapshot.totals.bytes,
            s.snapshot.summary.entities().unwrap_or(0)
        );
    }

    // 4. A recovery point over every graph, validated by a restore drill.
    let point = manager.create_point(
        &repo,
        &CreatePointRequest {
            graph_ids: found.graphs.iter().map(|g| g.id.clone()).collect(),
            description: "integration demo".into(),
            ..CreatePointRequest::default()
        },
    )?;
    let report = manager.validate_point(&repo, &point.point.id)?;
    println!("recovery point {} validated: {}", point.point.id, report.ok);

    // 5. Repository verification and graph health.
    let verify = repo.verify(&VerifyOptions::default(), &lightrag_backup::NoProgress)?;
    println!(
        "verify: {} snapshots, damage: {}",
        verify.snapshots_checked,
        verify.damage.len()
    );
    let health = HealthMonitor::new(
        db,
        HealthOptions {
            roots: vec![working_dir],
            ..HealthOptions::default()
        },
    )
    .check(Some(&repo));
    for g in &health.graphs {
        println!("health {:<12} {} {:?}", g.id, g.status.as_str(), g.reasons);
    }
    println!("overall: {}", health.overall.as_str());
    Ok(())
}
