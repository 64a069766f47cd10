//! Helpers shared by the diff tests: run the diff through the library, apply its events through the
//! pipeline into the PostgreSQL apply sink (`tidemark_sinks::postgres`, which writes values with
//! PostgreSQL's own input functions), and compare tables independently (sorted row texts).
#![allow(dead_code)]

use std::process::Command;

use crate::common::*;
use tidemark_sources::diff::{DiffEvent, DiffOptions, DiffReport};

pub fn opts(pg: &Cluster, old: &str, new: &str, tables: &[&str]) -> DiffOptions {
    opts_dsn(&pg.dsn(old), &pg.dsn(new), tables)
}

pub fn opts_dsn(old: &str, new: &str, tables: &[&str]) -> DiffOptions {
    DiffOptions {
        old: tidemark_pgwire::Dsn::parse(old).unwrap(),
        new: tidemark_pgwire::Dsn::parse(new).unwrap(),
        publications: vec![],
        tables: tables.iter().map(|s| s.to_string()).collect(),
        exclude: vec![],
        jobs: 3,
        event_time_us: None,
        verify: false,
        encoder: Default::default(),
        method: Default::default(),
    }
}

/// Run the diff through the library and collect its events.
pub fn diff_events(o: DiffOptions) -> (DiffReport, Vec<DiffEvent>) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let h = tokio::spawn(tidemark_sources::diff::run(o, Some(tx)));
        let mut evs = Vec::new();
        while let Some(batch) = rx.recv().await {
            evs.extend(batch);
        }
        (h.await.unwrap().unwrap(), evs)
    })
}

/// Apply diff events to `db` through the pipeline into the production PostgreSQL apply sink
/// (`tidemark_sinks::postgres`), which writes every value through its column type's own input
/// function (composite literals), exactly as the diff read it.
pub fn apply(pg: &Cluster, db: &str, evs: &[DiffEvent]) {
    use tidemark_pipeline::{Destination, Event, Output, PipelineOptions, Running, SourceBatch};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dsn = tidemark_pgwire::Dsn::parse(&pg.dsn(db)).unwrap();
        let sink = tidemark_sinks::postgres::ApplySink::connect(dsn).await.unwrap();
        let opts = PipelineOptions::new(tidemark_debezium::Encoder::new(Default::default()));
        let p = Running::start(Output::new(Destination::Events(Box::new(sink))), &opts);
        for chunk in evs.chunks(500) {
            let events = chunk.iter().cloned().map(Event::Change).collect();
            p.input.send(SourceBatch { events, checkpoint: None }).await.expect("pipeline running");
        }
        let out = p.finish().await.map_err(|(_, e)| e).expect("every batch applied");
        out.close().await.unwrap();
    });
}

pub fn cli(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).env("TIDEMARK_LOG", "warn").output().unwrap()
}

/// Events as comparable text (kind, before, after), sorted: the two methods may emit in different
/// orders across work units but must find exactly the same changes.
pub fn event_set(evs: &[DiffEvent]) -> Vec<String> {
    let mut v: Vec<String> = evs
        .iter()
        .map(|e| format!("{} {:?} {:?} {:?}", e.plan.table.id, e.event.kind, e.event.before, e.event.after))
        .collect();
    v.sort();
    v
}

/// Two databases in one cluster: `old_db` with `setup`, `new_db` a block copy of it with `changes`.
pub fn two_databases(setup: &str, changes: &str) -> Cluster {
    let pg = Cluster::start().unwrap();
    pg.psql("postgres", "CREATE DATABASE old_db").unwrap();
    pg.psql("old_db", setup).unwrap();
    pg.psql("postgres", "CREATE DATABASE new_db TEMPLATE old_db").unwrap();
    if !changes.is_empty() {
        pg.psql("new_db", changes).unwrap();
    }
    pg
}
