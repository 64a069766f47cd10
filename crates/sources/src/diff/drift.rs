//! Schema drift between the two sides of a diff: which column changes still let the diff produce the
//! events recovery needs, and how the old side is read so its rows compare with the new side's.
//!
//! Invariant (DESIGN.md contract 7, with the DDL applied first): after the consumer applies the gap's DDL
//! to the old database — an added column starting out NULL in existing rows, a dropped column gone, a
//! widened type cast — applying the diff's events yields the new database row for row. So:
//! - a column only in new is read on the old side as `NULL::<new type>`: rows whose new value is not NULL
//!   come as updates carrying it; a key column only in new is not well defined (the table fails);
//! - a column only in old is left out of the comparison and of the events (their schema is the new one);
//! - a type widened losslessly (int → bigint, varchar(10) → varchar(20), numeric(5,2) → numeric(7,2),
//!   real → double precision, timestamp(0) → timestamp(6), …) is read on the old side as
//!   `col::<new type>`, so both sides spell values with the new type's output function and compare by
//!   value; any other type change fails the table with a message naming it.
//!
//! DDL itself is never an event: the consumer sees the new columns in the events' schemas and values.

use tidemark_model::quote_ident;

use super::catalog::Column;

/// How one column of the new side is read on the old side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldColumn {
    /// Same name and type.
    Same,
    /// Only in new: read as NULL of the new type.
    Added,
    /// Type widened losslessly: read with a cast to the new type.
    Widened { from: String },
}

impl OldColumn {
    /// The old side's SELECT expression for column `name` of new type `format`.
    pub fn expr(&self, name: &str, format: &str) -> String {
        match self {
            OldColumn::Same => quote_ident(name),
            OldColumn::Added => format!("NULL::{format}"),
            OldColumn::Widened { .. } => format!("({})::{format}", quote_ident(name)),
        }
    }
}

/// `format_type` spellings split into the type name (typmod removed) and the typmod's numbers:
/// `numeric(7,2)` → (`numeric`, [7, 2]); `timestamp(3) without time zone` → (`timestamp without time
/// zone`, [3]).
fn split_typmod(t: &str) -> (String, Vec<i64>) {
    match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b => {
            let args = t[a + 1..b].split(',').filter_map(|x| x.trim().parse().ok()).collect();
            (format!("{}{}", &t[..a], &t[b + 1..]), args)
        }
        _ => (t.to_string(), Vec::new()),
    }
}

/// Every value of type `old` casts to type `new` without loss and with a unique result, so comparing
/// `old_value::new` with the new side's value is comparing values.
pub fn lossless_widening(old: &str, new: &str) -> bool {
    if old == new {
        return true;
    }
    if let (Some(o), Some(n)) = (old.strip_suffix("[]"), new.strip_suffix("[]")) {
        return lossless_widening(o, n);
    }
    let (ob, oa) = split_typmod(old);
    let (nb, na) = split_typmod(new);
    let int_digits = |b: &str| match b {
        "smallint" => Some(5),
        "integer" => Some(10),
        "bigint" => Some(19),
        _ => None,
    };
    let int_rank = |b: &str| ["smallint", "integer", "bigint"].iter().position(|x| *x == b);
    match (ob.as_str(), nb.as_str()) {
        (o, n) if int_rank(o).is_some() && int_rank(n).is_some() => int_rank(o) <= int_rank(n),
        (o, "numeric") if int_digits(o).is_some() => match na.as_slice() {
            [] => true,
            [p] => *p >= int_digits(o).unwrap_or(i64::MAX),
            [p, s] => p - s >= int_digits(o).unwrap_or(i64::MAX),
            _ => false,
        },
        ("numeric", "numeric") => match (oa.as_slice(), na.as_slice()) {
            (_, []) => true,
            ([p], [p2]) => p2 >= p,
            ([p], [p2, s2]) => p2 - s2 >= *p,
            ([p, s], [p2]) => *s == 0 && p2 >= p,
            ([p, s], [p2, s2]) => s2 >= s && p2 - s2 >= p - s,
            _ => false,
        },
        ("character varying", "character varying") => match (oa.as_slice(), na.as_slice()) {
            (_, []) => true,
            ([n], [m]) => m >= n,
            _ => false,
        },
        ("character varying", "text") => true,
        ("text", "character varying") => na.is_empty(),
        ("real", "double precision") => true,
        (o, n) if o == n && o.starts_with("time") => match (oa.as_slice(), na.as_slice()) {
            (_, []) => true,
            ([p], [q]) => q >= p,
            _ => false,
        },
        ("bit varying", "bit varying") => match (oa.as_slice(), na.as_slice()) {
            (_, []) => true,
            ([n], [m]) => m >= n,
            _ => false,
        },
        _ => false,
    }
}

/// How the old side's columns differ from the compared new ones.
#[derive(Debug, Default)]
pub(super) struct Drift {
    /// How each compared column is read on the old side.
    pub old_side: Vec<OldColumn>,
    /// Schema changes the diff handles (for the report).
    pub notes: Vec<String>,
    /// Changes that make the table incomparable, each with its fix.
    pub problems: Vec<String>,
}

/// Compare the columns to diff (`wanted`, from new: all of `all` or a publication's column list) with the
/// old side's (`None` when the table is missing there).
pub(super) fn compare(wanted: &[Column], all: &[Column], old: Option<&[Column]>, column_list: bool) -> Drift {
    let mut d = Drift { old_side: vec![OldColumn::Same; wanted.len()], ..Default::default() };
    let Some(old_cols) = old else {
        return d;
    };
    for (i, c) in wanted.iter().enumerate() {
        match old_cols.iter().find(|o| o.name == c.name) {
            None => {
                d.old_side[i] = OldColumn::Added;
                d.notes.push(format!(
                    "column {} added in the gap (old rows read as NULL)",
                    quote_ident(&c.name)
                ));
            }
            Some(o) if o.format == c.format => {}
            Some(o) if lossless_widening(&o.format, &c.format) => {
                d.old_side[i] = OldColumn::Widened { from: o.format.clone() };
                d.notes.push(format!(
                    "column {} widened from {} to {} (compared by value)",
                    quote_ident(&c.name),
                    o.format,
                    c.format
                ));
            }
            Some(o) => d.problems.push(format!(
                "column {} changed type from {} (old) to {} (new), which is not a lossless widening, so \
                 old and new values cannot be compared. Fix: leave the table out (--exclude) and compare it \
                 by other means",
                quote_ident(&c.name),
                o.format,
                c.format
            )),
        }
    }
    if !column_list {
        for o in old_cols {
            if !all.iter().any(|c| c.name == o.name) {
                d.notes.push(format!("column {} dropped in the gap (not compared)", quote_ident(&o.name)));
            }
        }
    }
    d
}

/// A key column only in new: old and new rows cannot be matched.
pub(super) fn key_added(name: &str) -> String {
    format!(
        "key column {} was added in the gap, so old and new rows cannot be matched. Fix: leave the \
         table out (--exclude) and compare it by other means",
        quote_ident(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widenings() {
        for (o, n) in [
            ("integer", "bigint"),
            ("smallint", "integer"),
            ("integer", "numeric"),
            ("integer", "numeric(12,2)"),
            ("character varying(10)", "character varying(20)"),
            ("character varying(10)", "text"),
            ("numeric(5,2)", "numeric(7,2)"),
            ("numeric(5,2)", "numeric(8,3)"),
            ("numeric(5,2)", "numeric"),
            ("real", "double precision"),
            ("timestamp(0) without time zone", "timestamp(6) without time zone"),
            ("timestamp(3) with time zone", "timestamp with time zone"),
            ("integer[]", "bigint[]"),
        ] {
            assert!(lossless_widening(o, n), "{o} -> {n}");
        }
        for (o, n) in [
            ("bigint", "integer"),
            ("text", "character varying(10)"),
            ("character varying(20)", "character varying(10)"),
            ("numeric(7,2)", "numeric(5,2)"),
            ("numeric(5,2)", "numeric(5,3)"),
            ("numeric", "numeric(10,2)"),
            ("double precision", "real"),
            ("integer", "numeric(5,0)"),
            ("timestamp without time zone", "timestamp with time zone"),
            ("integer", "text"),
        ] {
            assert!(!lossless_widening(o, n), "{o} -> {n}");
        }
    }

    fn col(name: &str, format: &str) -> Column {
        Column {
            name: name.into(),
            type_oid: 0,
            type_modifier: -1,
            format: format.into(),
            not_null: false,
            default: None,
        }
    }

    #[test]
    fn column_drift() {
        let new = [col("id", "integer"), col("n", "bigint"), col("added", "text"), col("t", "text")];
        let old = [col("id", "integer"), col("n", "integer"), col("gone", "text"), col("t", "integer")];
        let d = compare(&new, &new, Some(&old), false);
        assert_eq!(
            d.old_side,
            vec![
                OldColumn::Same,
                OldColumn::Widened { from: "integer".into() },
                OldColumn::Added,
                OldColumn::Same
            ]
        );
        assert_eq!(d.notes.len(), 3, "{:?}", d.notes);
        assert!(d.notes[2].contains("\"gone\" dropped"), "{:?}", d.notes);
        assert_eq!(d.problems.len(), 1);
        assert!(d.problems[0].contains("changed type from integer (old) to text (new)"));
        // A publication's column list: columns outside it are not reported as dropped.
        assert_eq!(compare(&new[..1], &new, Some(&old), true).notes.len(), 0);
        // The table missing on the old side: nothing to compare.
        let d = compare(&new, &new, None, false);
        assert!(
            d.notes.is_empty() && d.problems.is_empty() && d.old_side.iter().all(|o| *o == OldColumn::Same)
        );
    }

    #[test]
    fn old_side_expressions() {
        assert_eq!(OldColumn::Added.expr("Note", "text"), "NULL::text");
        assert_eq!(OldColumn::Widened { from: "integer".into() }.expr("n", "bigint"), "(\"n\")::bigint");
    }
}
