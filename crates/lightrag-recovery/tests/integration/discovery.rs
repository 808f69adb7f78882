use std::{fs, path::Path, time::Duration};

use lightrag_recovery::{
    GraphLayout, discover_graphs, graph_id_for_folder, looks_live_at, resolve_graph,
};

use super::common::copy_fixture;

#[test]
fn real_fixtures_in_all_layouts() -> anyhow::Result<()> {
    let t = tempfile::tempdir()?;
    let w = t.path();
    // Root = default (G4), a workspace (G2), a CJK-named workspace (mapped), multi-graph layout.
    copy_fixture("bingofhy-rag_storage", w)?;
    copy_fixture("adamaslan-dickens", &w.join("dickens"))?;
    copy_fixture("adamaslan-dickens", &w.join("狄更斯"))?;
    fs::write(w.join("graphs_config.json"), "{}")?;
    copy_fixture("bingofhy-rag_storage", &w.join("graphs/cn"))?;
    copy_fixture("adamaslan-dickens", &w.join("graphs/books/dickens"))?;

    let d = discover_graphs(w)?;
    let ids: Vec<_> = d.graphs.iter().map(|g| (g.id.as_str(), g.layout)).collect();
    let cjk = graph_id_for_folder("狄更斯");
    assert_eq!(
        ids,
        vec![
            ("default", GraphLayout::Root),
            ("dickens", GraphLayout::Workspace),
            (cjk.as_str(), GraphLayout::Workspace),
            ("books.dickens", GraphLayout::MultiGraph),
            ("cn", GraphLayout::MultiGraph),
        ]
    );
    assert!(d.skipped.is_empty(), "{:?}", d.skipped);
    let mapped = d.get(&cjk).unwrap();
    assert_eq!(mapped.label.as_deref(), Some("狄更斯"));
    assert_eq!(
        resolve_graph(&[w], &cjk)?.path,
        fs::canonicalize(w.join("狄更斯"))?
    );

    let g = resolve_graph(&[w], "books.dickens")?;
    assert_eq!(g.path, fs::canonicalize(w)?.join("graphs/books/dickens"));
    assert_eq!(lightrag_recovery::lightrag_files(&g.path)?.len(), 8);
    Ok(())
}

#[test]
fn fixture_liveness_follows_mtimes() -> anyhow::Result<()> {
    let t = tempfile::tempdir()?;
    copy_fixture("adamaslan-dickens", t.path())?;
    let now = std::time::SystemTime::now();
    // Freshly copied files count as live within a window...
    assert!(looks_live_at(t.path(), Duration::from_secs(300), now)?);
    // ...and not once the window has passed.
    assert!(!looks_live_at(
        t.path(),
        Duration::from_secs(300),
        now + Duration::from_secs(3600)
    )?);
    assert!(!looks_live_at(
        Path::new("/nonexistent/graph"),
        Duration::from_secs(1),
        now
    )?);
    Ok(())
}
