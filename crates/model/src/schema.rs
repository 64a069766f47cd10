//! Table and column descriptions, as a source learned them (pgoutput Relation message or catalog query).

use std::sync::Arc;

/// `(schema, table)` of a captured table.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    /// Namespace (schema) name, unquoted.
    pub schema: String,
    /// Relation name, unquoted.
    pub name: String,
}

impl TableId {
    /// Build from parts.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableId { schema: schema.into(), name: name.into() }
    }

    /// The identifier as SQL, each part double-quoted with embedded quotes doubled.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// Quote an SQL identifier: always double quotes, embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// REPLICA IDENTITY of a table, which decides what old values the WAL carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// `d`: primary key columns only.
    Default,
    /// `n`: nothing.
    Nothing,
    /// `f`: the whole old row.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

impl ReplicaIdentity {
    /// From `pg_class.relreplident` / pgoutput's byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            b'n' => ReplicaIdentity::Nothing,
            b'f' => ReplicaIdentity::Full,
            b'i' => ReplicaIdentity::Index,
            _ => ReplicaIdentity::Default,
        }
    }
}

/// One column as the source describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier (`-1` when none), e.g. varchar length + 4, numeric precision/scale.
    pub type_modifier: i32,
    /// Part of the key the source identifies rows by (replica identity / primary key).
    pub is_key: bool,
    /// Column allows NULL. Unknown (from pgoutput alone) is reported as nullable.
    pub nullable: bool,
    /// Default value as a literal the encoder may put into the schema, when known.
    pub default: Option<String>,
}

/// A table's shape at one point in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// Relation OID on the source (0 when not known).
    pub oid: u32,
    /// Qualified name.
    pub id: TableId,
    /// Replica identity in force.
    pub replica_identity: ReplicaIdentity,
    /// Columns in attribute order.
    pub columns: Vec<Column>,
    /// Indexes (into `columns`) of the primary key in key order; empty when the table has none known.
    pub primary_key: Vec<usize>,
}

impl TableSchema {
    /// The primary key as it was when written, from the replica-identity flags of a Relation message
    /// (or a catalog read that sets them the same way): under REPLICA IDENTITY DEFAULT the flags mark
    /// the primary-key columns (kept in the catalog's key order when it still agrees); flagged columns
    /// of a DEFAULT or INDEX identity are NOT NULL; an INDEX identity keys a table without a known
    /// primary key.
    pub fn apply_key_flags(&mut self) {
        if !matches!(self.replica_identity, ReplicaIdentity::Default | ReplicaIdentity::Index) {
            return;
        }
        let flagged: Vec<usize> =
            self.columns.iter().enumerate().filter(|(_, c)| c.is_key).map(|(i, _)| i).collect();
        if flagged.is_empty() {
            return;
        }
        for &i in &flagged {
            self.columns[i].nullable = false;
        }
        if self.replica_identity == ReplicaIdentity::Default {
            let mut sorted = self.primary_key.clone();
            sorted.sort_unstable();
            if sorted != flagged {
                self.primary_key = flagged;
            }
        } else if self.primary_key.is_empty() {
            self.primary_key = flagged;
        }
    }

    /// Columns that form the event key: the primary key if known, else the replica-identity columns.
    pub fn key_columns(&self) -> Vec<usize> {
        if !self.primary_key.is_empty() {
            return self.primary_key.clone();
        }
        self.columns.iter().enumerate().filter(|(_, c)| c.is_key).map(|(i, _)| i).collect()
    }
}

/// Shared handle to a schema; events carry it so encoders need no lookup.
pub type SchemaRef = Arc<TableSchema>;
