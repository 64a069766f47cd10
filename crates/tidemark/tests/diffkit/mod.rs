//! Helpers shared by the diff tests: run the diff through the library, apply its events with
//! PostgreSQL's own input functions, and compare tables independently (sorted row texts).
#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;

use crate::common::*;
use tidemark_sources::diff::{DiffEvent, DiffOptions, DiffProgress, DiffReport};

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
        let h = tokio::spawn(tidemark_sources::diff::run(o, Some(tx), Arc::new(DiffProgress::default())));
        let mut evs = Vec::new();
        while let Some(e) = rx.recv().await {
            evs.push(e);
        }
        (h.await.unwrap().unwrap(), evs)
    })
}

/// The row as a composite literal of its table's type, `'("v1",,"v3")'::t`: every value goes through
/// its column type's own input function, exactly as the diff read it (NULL is an empty field).
pub fn row_lit(ev: &DiffEvent, row: &[tidemark_model::Datum]) -> String {
    let fields: Vec<String> = row
        .iter()
        .map(|d| match d {
            tidemark_model::Datum::Text(b) => {
                let v = String::from_utf8(b.to_vec()).unwrap();
                format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
            }
            _ => String::new(),
        })
        .collect();
    format!("{}::{}", lit(&format!("({})", fields.join(","))), ev.plan.table.id.quoted())
}

pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Apply diff events to `db` with PostgreSQL's own input functions (composite literals).
pub fn apply(pg: &Cluster, db: &str, evs: &[DiffEvent]) {
    let mut sql = String::from("BEGIN;\n");
    for ev in evs {
        let t = ev.plan.table.id.quoted();
        let cols = &ev.plan.table.columns;
        let key: Vec<&str> = cols.iter().filter(|c| c.is_key).map(|c| c.name.as_str()).collect();
        let matcher = |row: &str| -> String {
            if key.is_empty() {
                // Keyless: remove exactly one row with the same text.
                format!("ctid = (SELECT ctid FROM {t} x WHERE x::text = ({row})::text LIMIT 1)")
            } else {
                key.iter()
                    .map(|k| format!("{t}.{q} = ({row}).{q}", q = tidemark_model::quote_ident(k)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            }
        };
        let names = cols.iter().map(|c| tidemark_model::quote_ident(&c.name)).collect::<Vec<_>>().join(", ");
        match ev.event.kind {
            tidemark_model::ChangeKind::Insert => {
                let a = row_lit(ev, ev.event.after.as_ref().unwrap());
                sql.push_str(&format!("INSERT INTO {t} ({names}) SELECT ({a}).*;\n"));
            }
            tidemark_model::ChangeKind::Delete => {
                let b = row_lit(ev, ev.event.before.as_ref().unwrap());
                sql.push_str(&format!("DELETE FROM {t} WHERE {};\n", matcher(&b)));
            }
            tidemark_model::ChangeKind::Update => {
                let b = row_lit(ev, ev.event.before.as_ref().unwrap());
                let a = row_lit(ev, ev.event.after.as_ref().unwrap());
                sql.push_str(&format!(
                    "UPDATE {t} SET ({names}) = (SELECT ({a}).*) WHERE {};\n",
                    matcher(&b)
                ));
            }
            _ => unreachable!(),
        }
    }
    sql.push_str("COMMIT;\n");
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), sql).unwrap();
    pg.psql_file(db, f.path()).unwrap();
}

/// Independent equality: sorted row texts of every table.
pub fn fingerprint(pg: &Cluster, db: &str, table: &str) -> String {
    pg.psql(db, &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') FROM (SELECT t::text AS x FROM {table} t) s"))
        .unwrap()
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
