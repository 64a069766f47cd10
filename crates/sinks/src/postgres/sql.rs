//! Change events → SQL text, with every value passed through its column type's own input function.
//!
//! Why composite literals: a row is written as one literal of the table's row type,
//! `'("v1",,"v3")'::schema.table`, so each field is parsed by exactly the input function PostgreSQL
//! would use for that column — no client-side knowledge of types, and values round-trip exactly as
//! the source printed them (the diff and the stream both carry PostgreSQL's text form).
//!
//! Invariants: every identifier goes through [`quote_ident`] and every literal through [`literal`]
//! (standard-conforming strings, which the sink's session sets), so no value or name can break out
//! of its position; an unchanged TOASTed value is never written (it is left as it is on the target).

use tidemark_model::{quote_ident, ChangeEvent, ChangeKind, Datum, ReplicaIdentity, Row, TableSchema};

/// Why an event cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A value arrived in binary form, which has no text for an input function.
    #[error("column {column:?} of {table} holds a binary-format value; the apply sink needs PostgreSQL's text form")]
    Binary {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// An update or delete without the old row's key.
    #[error("a {op} of {table} carries no old row; the apply sink needs the key of the row to change")]
    NoOldRow {
        /// Table.
        table: String,
        /// Operation.
        op: &'static str,
    },
    /// A value is not valid UTF-8.
    #[error("column {column:?} of {table} is not valid UTF-8")]
    Utf8 {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
}

/// A SQL string literal under `standard_conforming_strings = on`.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The row as a composite literal of its table's type. `None` fields are left out of the SET list by
/// the caller (unchanged TOAST); here they read as NULL.
fn row_literal(t: &TableSchema, row: &Row) -> Result<String, ApplyError> {
    let mut fields = Vec::with_capacity(row.len());
    for (d, c) in row.iter().zip(&t.columns) {
        match d {
            Datum::Text(b) => {
                let v = std::str::from_utf8(b)
                    .map_err(|_| ApplyError::Utf8 { table: t.id.to_string(), column: c.name.clone() })?;
                fields.push(format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")));
            }
            Datum::Binary(_) => {
                return Err(ApplyError::Binary { table: t.id.to_string(), column: c.name.clone() })
            }
            Datum::Null | Datum::UnchangedToast => fields.push(String::new()),
        }
    }
    Ok(format!("{}::{}", literal(&format!("({})", fields.join(","))), t.id.quoted()))
}

/// The columns that find the old row by equality: the primary key when the old row carries all of it
/// (`REPLICA IDENTITY FULL`), else the replica-identity columns (which the old row carries, and which
/// PostgreSQL requires to be NOT NULL). Empty when neither exists: under `FULL` pgoutput flags every
/// column as identity, but nullable, duplicated columns cannot find one row by `=`.
fn match_columns(t: &TableSchema) -> Vec<&str> {
    let identity: Vec<&str> = t.columns.iter().filter(|c| c.is_key).map(|c| c.name.as_str()).collect();
    match t.replica_identity {
        ReplicaIdentity::Full => t.primary_key.iter().map(|&i| t.columns[i].name.as_str()).collect(),
        _ => identity,
    }
}

/// The WHERE clause that finds the old row: by key columns, or (keyless) exactly one row with the same
/// text.
fn matcher(t: &TableSchema, old: &str) -> String {
    let tq = t.id.quoted();
    let key = match_columns(t);
    if key.is_empty() {
        // `alias.*` is the whole row even when a column has the alias's name (a bare `x` would be
        // that column).
        format!("ctid = (SELECT ctid FROM {tq} tidemark_row WHERE (tidemark_row.*)::text = ({old})::text LIMIT 1)")
    } else {
        key.iter()
            .map(|k| format!("{tq}.{q} = ({old}).{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// One statement (with its terminating `;`) applying `ev`.
pub fn statement(ev: &ChangeEvent) -> Result<String, ApplyError> {
    let t = &ev.table;
    let tq = t.id.quoted();
    let names = |keep: &dyn Fn(usize) -> bool| {
        t.columns
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, c)| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let old_row = |op| ev.before.as_ref().ok_or(ApplyError::NoOldRow { table: t.id.to_string(), op });
    Ok(match ev.kind {
        ChangeKind::Insert | ChangeKind::Read => {
            let after =
                ev.after.as_ref().ok_or(ApplyError::NoOldRow { table: t.id.to_string(), op: "insert" })?;
            format!("INSERT INTO {tq} ({}) SELECT ({}).*;", names(&|_| true), row_literal(t, after)?)
        }
        ChangeKind::Delete => {
            format!("DELETE FROM {tq} WHERE {};", matcher(t, &row_literal(t, old_row("delete")?)?))
        }
        ChangeKind::Update => {
            let after =
                ev.after.as_ref().ok_or(ApplyError::NoOldRow { table: t.id.to_string(), op: "update" })?;
            // Without an old row (REPLICA IDENTITY DEFAULT, key unchanged) the new row's key finds it.
            let old = row_literal(t, ev.before.as_ref().unwrap_or(after))?;
            let new = row_literal(t, after)?;
            let keep = |i: usize| after.get(i).is_some_and(|d| *d != Datum::UnchangedToast);
            let cols = names(&keep);
            let vals = t
                .columns
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, c)| format!("({new}).{}", quote_ident(&c.name)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("UPDATE {tq} SET ({cols}) = ROW({vals}) WHERE {};", matcher(t, &old))
        }
        ChangeKind::Truncate => format!("TRUNCATE {tq};"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use tidemark_model::{Column, ReplicaIdentity, SourceInfo, TableId};

    use super::*;

    fn table(keyed: bool) -> Arc<TableSchema> {
        let col = |n: &str, k| Column {
            name: n.into(),
            type_oid: 25,
            type_modifier: -1,
            is_key: k,
            nullable: true,
            default: None,
        };
        Arc::new(TableSchema {
            oid: 1,
            id: TableId::new("public", "we\"ird"),
            replica_identity: ReplicaIdentity::Default,
            columns: vec![col("id", keyed), col("v", false)],
            primary_key: if keyed { vec![0] } else { vec![] },
        })
    }

    fn ev(kind: ChangeKind, before: Option<Row>, after: Option<Row>, keyed: bool) -> ChangeEvent {
        ChangeEvent { table: table(keyed), kind, before, after, source: SourceInfo::default(), tx: None }
    }

    fn t(s: &str) -> Datum {
        Datum::Text(Bytes::from(s.to_string()))
    }

    #[test]
    fn values_are_quoted_for_the_composite_and_the_literal() {
        let s =
            statement(&ev(ChangeKind::Insert, None, Some(vec![t("1"), t("it's \"x\" \\ y")]), true)).unwrap();
        assert_eq!(
            s,
            r#"INSERT INTO "public"."we""ird" ("id", "v") SELECT ('("1","it''s \"x\" \\ y")'::"public"."we""ird").*;"#
        );
    }

    #[test]
    fn nulls_are_empty_fields_and_unchanged_toast_is_left_alone() {
        let s = statement(&ev(ChangeKind::Update, None, Some(vec![t("1"), Datum::UnchangedToast]), true))
            .unwrap();
        assert!(s.starts_with(r#"UPDATE "public"."we""ird" SET ("id") = ROW(("#), "{s}");
        let d = statement(&ev(ChangeKind::Delete, Some(vec![t("1"), Datum::Null]), None, true)).unwrap();
        assert!(d.contains(r#"'("1",)'"#), "{d}");
    }

    #[test]
    fn keyless_rows_are_matched_one_at_a_time_by_text() {
        let d = statement(&ev(ChangeKind::Delete, Some(vec![t("1"), t("a")]), None, false)).unwrap();
        assert!(d.contains("ctid = (SELECT ctid FROM"), "{d}");
        assert!(d.contains("(tidemark_row.*)::text"), "whole-row text, whatever the columns are called: {d}");
        assert!(d.contains("LIMIT 1"), "{d}");
    }

    #[test]
    fn replica_identity_full_matches_by_primary_key_or_whole_row() {
        // Under REPLICA IDENTITY FULL pgoutput flags every column as identity; `=` on nullable,
        // duplicated columns would miss NULL rows and hit every duplicate.
        let full = |pk: bool| {
            let mut t = (*table(true)).clone();
            t.replica_identity = ReplicaIdentity::Full;
            t.primary_key = if pk { vec![0] } else { vec![] };
            Arc::new(t)
        };
        let mut e = ev(ChangeKind::Delete, Some(vec![t("1"), Datum::Null]), None, true);
        e.table = full(false);
        let d = statement(&e).unwrap();
        assert!(d.contains("ctid = (SELECT ctid FROM") && d.contains("LIMIT 1"), "{d}");
        e.table = full(true);
        let d = statement(&e).unwrap();
        assert!(d.contains(r#""public"."we""ird"."id" = "#) && !d.contains(r#"."v" = "#), "{d}");
    }

    #[test]
    fn binary_values_and_missing_old_rows_are_errors() {
        let e =
            statement(&ev(ChangeKind::Insert, None, Some(vec![Datum::Binary(Bytes::new()), t("a")]), true));
        assert!(matches!(e, Err(ApplyError::Binary { .. })));
        let e = statement(&ev(ChangeKind::Delete, None, None, true));
        assert!(matches!(e, Err(ApplyError::NoOldRow { .. })));
    }
}
