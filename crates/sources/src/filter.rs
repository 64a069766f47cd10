//! Which tables a stream emits: `--tables` / `table.include.list` and `table.exclude.list`.
//!
//! A publication decides what PostgreSQL *sends*; this filter decides what tidemark *emits*. The two
//! differ whenever an existing publication publishes more than was asked for (`FOR ALL TABLES`, a
//! shared publication, a table added to it later), and a table left out on purpose — say one that
//! holds personal data — must then never reach a sink. The reader asks [`TableFilter::includes`]
//! once per Relation message and remembers the answer per relation id, so the hot path costs a
//! hash lookup and nothing else.
//!
//! Invariants:
//! - an empty filter (no include and no exclude entries) captures whatever the publication sends;
//! - with include entries, a table is emitted only when an entry names or matches it; exclude
//!   entries then cannot be given as well (Debezium refuses the combination, and so do we);
//! - an entry is either a *name* or a *pattern*, never both:
//!   - a name (`schema.table`, `table` meaning `public.table`, or quoted `"My.Schema"."T"`) matches
//!     exactly that table, case-sensitively, as PostgreSQL identifiers are;
//!   - an entry with a regex metacharacter other than `.` (`* + ? [ ] ( ) { } | \ ^ $`) outside
//!     double quotes is a Debezium pattern: anchored at both ends, case-insensitive, matched
//!     against `schema.table`.
//!
//! Plain names are exact rather than Debezium regexes on purpose: `public.users` must not also
//! capture a `public.Users` (Debezium's case-insensitive match would); the difference is documented
//! in docs/compatibility.md.

use regex::{Regex, RegexBuilder};
use tidemark_model::TableId;

use crate::catalog::parse_table_name;

/// A filter list that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A pattern does not compile.
    #[error("{property}: {pattern:?} is not a valid regular expression ({reason}). Fix: write a Java-style regex matched against schema.table, e.g. public\\.orders_.*")]
    BadPattern {
        /// Property the entry came from.
        property: &'static str,
        /// The entry.
        pattern: String,
        /// Compiler message.
        reason: String,
    },
    /// Include and exclude lists were both given.
    #[error("table.include.list and table.exclude.list are both set. Fix: set only one of them (as with Debezium): list the tables to capture, or the tables to leave out")]
    IncludeAndExclude,
}

/// One entry of a list.
#[derive(Debug, Clone)]
enum Entry {
    Name(TableId),
    Pattern(Regex),
}

impl Entry {
    fn parse(property: &'static str, s: &str) -> Result<Entry, FilterError> {
        if tidemark_model::is_table_pattern(s) {
            let re =
                RegexBuilder::new(&format!("^(?:{s})$")).case_insensitive(true).build().map_err(|e| {
                    FilterError::BadPattern { property, pattern: s.to_string(), reason: e.to_string() }
                })?;
            Ok(Entry::Pattern(re))
        } else {
            Ok(Entry::Name(parse_table_name(s)))
        }
    }

    fn matches(&self, id: &TableId, full: &str) -> bool {
        match self {
            Entry::Name(n) => n == id,
            Entry::Pattern(re) => re.is_match(full),
        }
    }
}

/// The tables a stream emits.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    include: Vec<Entry>,
    exclude: Vec<Entry>,
}

impl TableFilter {
    /// Build from the entries of `table.include.list` (or `--tables`) and `table.exclude.list`.
    pub fn new(include: &[String], exclude: &[String]) -> Result<TableFilter, FilterError> {
        let parse = |property, list: &[String]| -> Result<Vec<Entry>, FilterError> {
            list.iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(|s| Entry::parse(property, s))
                .collect()
        };
        let include = parse("table.include.list", include)?;
        let exclude = parse("table.exclude.list", exclude)?;
        if !include.is_empty() && !exclude.is_empty() {
            return Err(FilterError::IncludeAndExclude);
        }
        Ok(TableFilter { include, exclude })
    }

    /// No entries: everything the publication sends is emitted.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether events of `id` are emitted.
    pub fn includes(&self, id: &TableId) -> bool {
        let full = format!("{}.{}", id.schema, id.name);
        if !self.include.is_empty() {
            return self.include.iter().any(|e| e.matches(id, &full));
        }
        !self.exclude.iter().any(|e| e.matches(id, &full))
    }

    /// The tables the include list names exactly (what a publication can be created for and what
    /// must exist).
    pub fn names(&self) -> Vec<TableId> {
        self.include
            .iter()
            .filter_map(|e| match e {
                Entry::Name(n) => Some(n.clone()),
                Entry::Pattern(_) => None,
            })
            .collect()
    }

    /// The filter has patterns or exclusions, so the set of tables depends on the catalog.
    pub fn needs_catalog(&self) -> bool {
        !self.exclude.is_empty() || self.include.iter().any(|e| matches!(e, Entry::Pattern(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(inc: &[&str], exc: &[&str]) -> TableFilter {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        TableFilter::new(&s(inc), &s(exc)).unwrap()
    }

    #[test]
    fn names_are_exact() {
        let t = f(&["public.users", "orders", "\"My.S\".\"T\""], &[]);
        assert!(t.includes(&TableId::new("public", "users")));
        assert!(t.includes(&TableId::new("public", "orders")));
        assert!(t.includes(&TableId::new("My.S", "T")));
        assert!(!t.includes(&TableId::new("public", "Users")));
        assert!(!t.includes(&TableId::new("public", "pii")));
        assert!(!t.includes(&TableId::new("publicXusers", "")));
        assert!(!t.needs_catalog());
        assert_eq!(t.names().len(), 3);
    }

    #[test]
    fn patterns_are_anchored_and_case_insensitive() {
        let t = f(&["public\\.order.*"], &[]);
        assert!(t.includes(&TableId::new("public", "orders")));
        assert!(t.includes(&TableId::new("PUBLIC", "Order_lines")));
        assert!(!t.includes(&TableId::new("x", "public.orders")));
        assert!(t.needs_catalog());
        assert!(t.names().is_empty());
    }

    #[test]
    fn exclude_list() {
        let t = f(&[], &["public.pii", "audit\\..*"]);
        assert!(!t.includes(&TableId::new("public", "pii")));
        assert!(!t.includes(&TableId::new("audit", "log")));
        assert!(t.includes(&TableId::new("public", "orders")));
        assert!(f(&[], &[]).includes(&TableId::new("a", "b")));
    }

    #[test]
    fn include_and_exclude_together_refused() {
        let e = TableFilter::new(&["a".into()], &["b".into()]).unwrap_err();
        assert!(matches!(e, FilterError::IncludeAndExclude));
        let e = TableFilter::new(&["public\\.(".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("table.include.list"), "{e}");
    }
}
