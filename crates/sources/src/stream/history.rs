//! What the stream has learned about relations and types, kept per relation id and per type OID,
//! so that a change is encoded with the shape its table had when the change was *written*, not
//! with whatever today's catalog says.
//!
//! Logical decoding reads the WAL with a historic catalog snapshot: a Relation message describes
//! the table as it was (column names, type OIDs, typmods, which columns form the replica identity),
//! and a Type message names every non-built-in type it uses. The SQL catalog tidemark can query is
//! today's, and by the time a lagging stream decodes a change the table may have been altered or
//! dropped and its enum type replaced. So:
//!
//! - column names, types, typmods and key flags always come from the Relation message;
//! - types are (re)read from the catalog at each Relation message; one the catalog no longer has
//!   keeps what was learned before, and one never learned (dropped before tidemark met it) is
//!   described by the Type message's name and emitted as the text pgoutput sent (a string), never
//!   left out;
//! - the key follows the Relation message's key flags (the primary key or identity index as it was),
//!   in the catalog's key order when the two agree;
//! - NOT NULL and defaults come from the catalog while the relation exists, else from what this
//!   process learned earlier for that relation id; key columns are NOT NULL in any case (PostgreSQL
//!   requires it of primary keys and identity indexes);
//! - an enum value missing from the learned labels (`ALTER TYPE … ADD VALUE`, which sends no new
//!   Relation message) re-reads that one type, once per (type, label), as Debezium does.
//!
//! Nothing here runs per event except the label check for enum columns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tidemark_debezium::{is_builtin, EncoderConfig, TypeInfo, TypeKind, TypeRegistry};
use tidemark_model::{Column, Datum, ReplicaIdentity, TableId, TableSchema};
use tidemark_pgwire::pgoutput::Relation;

use crate::catalog::Catalog;
use crate::SourceError;

/// `text`: what a vanished type's values are read as (pgoutput sends them as their text output).
const TEXT_OID: u32 = 25;

/// Relation and type knowledge that outlives reconnects within one process.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// Non-built-in types.
    pub reg: TypeRegistry,
    /// `(namespace, name)` per type OID, from Type messages.
    type_names: HashMap<u32, (String, String)>,
    /// Last shape built per relation id.
    tables: HashMap<u32, Arc<TableSchema>>,
    /// Enum labels a refresh was already tried for.
    refreshed: HashSet<(u32, Vec<u8>)>,
    /// Warnings already given, by (relation or type OID, kind).
    warned: HashSet<(u32, &'static str)>,
}

/// Scalar enum columns of a table: `(column index, enum type OID)`.
pub(crate) type EnumColumns = Vec<(usize, u32)>;

impl History {
    /// Remember a Type message.
    pub fn learn_type_name(&mut self, oid: u32, namespace: String, name: String) {
        self.type_names.insert(oid, (namespace, name));
    }

    fn warn_once(&mut self, oid: u32, kind: &'static str) -> bool {
        self.warned.insert((oid, kind))
    }

    /// The table shape for a Relation message (see the module header for where each fact comes from).
    pub async fn learn_relation(
        &mut self,
        catalog: &Catalog,
        r: &Relation,
        cfg: &EncoderConfig,
    ) -> Result<Arc<TableSchema>, SourceError> {
        let schema = if r.namespace.is_empty() { "pg_catalog".to_string() } else { r.namespace.clone() };
        let id = TableId::new(schema, r.name.clone());
        let identity = ReplicaIdentity::from_byte(r.replica_identity);
        let columns: Vec<Column> = r
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                type_oid: c.type_oid,
                type_modifier: c.type_modifier,
                is_key: c.flags & 1 == 1,
                nullable: true,
                default: None,
            })
            .collect();
        catalog.refresh_types(&mut self.reg, columns.iter().map(|c| c.type_oid)).await?;
        self.describe_vanished_types(&id, &columns);
        let facts = catalog.table_facts(r.oid, id.clone(), identity, columns.clone()).await?;
        let exists = facts.is_some();
        let mut table = match facts {
            Some(t) => t,
            None => self.shape_from_earlier(r.oid, id.clone(), identity, columns),
        };
        let catalog_pk = table.primary_key.clone();
        table.apply_key_flags();
        if exists && identity == ReplicaIdentity::Index && !catalog_pk.is_empty() {
            self.check_identity_index(&table, &catalog_pk, cfg);
        }
        let table = Arc::new(table);
        self.tables.insert(r.oid, table.clone());
        Ok(table)
    }

    /// Types the catalog does not have (dropped since the change was written) and that were never
    /// learned: read their values as text under the name the Type message gave.
    fn describe_vanished_types(&mut self, table: &TableId, columns: &[Column]) {
        for c in columns {
            if is_builtin(c.type_oid) || self.reg.get(c.type_oid).is_some() {
                continue;
            }
            let Some((namespace, name)) = self.type_names.get(&c.type_oid).cloned() else { continue };
            if self.warn_once(c.type_oid, "vanished type") {
                tracing::warn!(
                    table = %table,
                    column = %c.name,
                    r#type = %format!("{namespace}.{name}"),
                    "the column's type no longer exists in the catalog (dropped after this change was written) and tidemark had not seen it before; its values are emitted as plain strings (for an enum, without the allowed list)"
                );
            }
            self.reg.insert(TypeInfo {
                oid: c.type_oid,
                namespace,
                name,
                kind: TypeKind::Domain { base: TEXT_OID, typmod: -1 },
            });
        }
    }

    /// A relation the catalog no longer has: NOT NULL and defaults from what this process learned
    /// for the same relation id (matched by column name and type), else unknown (optional, none).
    fn shape_from_earlier(
        &mut self,
        oid: u32,
        id: TableId,
        identity: ReplicaIdentity,
        mut columns: Vec<Column>,
    ) -> TableSchema {
        let earlier = self.tables.get(&oid).cloned();
        let mut primary_key = Vec::new();
        if let Some(e) = &earlier {
            for c in columns.iter_mut() {
                if let Some(p) = e.columns.iter().find(|p| p.name == c.name && p.type_oid == c.type_oid) {
                    c.nullable = p.nullable;
                    c.default = p.default.clone();
                }
            }
            for &i in &e.primary_key {
                if let Some(j) = e.columns.get(i).and_then(|p| columns.iter().position(|c| c.name == p.name))
                {
                    primary_key.push(j);
                }
            }
        }
        if self.warn_once(oid, "dropped relation") {
            tracing::warn!(
                table = %id,
                relation = oid,
                "the table no longer exists in the catalog (dropped after these changes were written); its key comes from the replica identity in the stream{}",
                if earlier.is_some() {
                    ", NOT NULL and defaults from what tidemark learned before the drop"
                } else {
                    "; NOT NULL and defaults of non-key columns cannot be known, so those columns are optional without defaults"
                }
            );
        }
        TableSchema { oid, id, replica_identity: identity, columns, primary_key }
    }

    fn check_identity_index(&mut self, table: &TableSchema, pk: &[usize], cfg: &EncoderConfig) {
        let full = format!("{}.{}", table.id.schema, table.id.name);
        if cfg.message_key_columns.iter().any(|(re, _)| re.is_match(&full)) {
            return;
        }
        let ident: Vec<&str> = table.columns.iter().filter(|c| c.is_key).map(|c| c.name.as_str()).collect();
        let pk: Vec<&str> =
            pk.iter().filter_map(|&i| table.columns.get(i)).map(|c| c.name.as_str()).collect();
        if self.warn_once(table.oid, "identity index") {
            tracing::warn!("{}", identity_index_warning(&table.id, &ident.join(","), &pk.join(",")));
        }
    }

    /// Scalar enum columns (directly or through a domain) of a table.
    pub fn enum_columns(&self, table: &TableSchema) -> EnumColumns {
        table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.enum_oid(c.type_oid, 0).map(|o| (i, o)))
            .collect()
    }

    fn enum_oid(&self, oid: u32, depth: u32) -> Option<u32> {
        match &self.reg.get(oid)?.kind {
            TypeKind::Enum(_) => Some(oid),
            TypeKind::Domain { base, .. } if depth < 8 => self.enum_oid(*base, depth + 1),
            _ => None,
        }
    }

    /// The first enum type whose value in `row` is not among its learned labels and was not looked
    /// up already.
    pub fn stale_enum(&mut self, enums: &EnumColumns, row: &[Datum]) -> Option<u32> {
        for &(i, oid) in enums {
            let Some(Datum::Text(v)) = row.get(i) else { continue };
            let Some(TypeInfo { kind: TypeKind::Enum(labels), .. }) = self.reg.get(oid) else { continue };
            if labels.iter().any(|l| l.as_bytes() == &v[..]) {
                continue;
            }
            if self.refreshed.insert((oid, v.to_vec())) {
                tracing::info!(
                    r#type = oid,
                    value = %String::from_utf8_lossy(v),
                    "enum value not among the known labels (ALTER TYPE … ADD VALUE); re-reading the type"
                );
                return Some(oid);
            }
        }
        None
    }
}

/// The warning for a table whose identity index is not its primary key.
pub(crate) fn identity_index_warning(table: &TableId, identity: &str, pk: &str) -> String {
    format!(
        "table {table} has REPLICA IDENTITY USING INDEX on ({identity}), which is not its primary key ({pk}): \
         PostgreSQL logs only the identity columns for deletes (and key-changing updates), so the event key \
         (the primary key) of those events cannot be right. Fix: key by the identity columns with \
         message.key.columns={}.{}:{identity}, or ALTER TABLE {} REPLICA IDENTITY DEFAULT (or FULL)",
        table.schema,
        table.name,
        table.quoted()
    )
}
