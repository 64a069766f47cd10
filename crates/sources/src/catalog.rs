//! Catalog queries shared by every source: preflight checks that turn misconfiguration into one
//! actionable error before anything is created or streamed, publication and slot management, table
//! shapes (nullability, defaults, primary keys) and non-built-in types.
//!
//! Every identifier that reaches generated SQL goes through [`quote_ident`]; values are bound as
//! parameters.

use std::collections::HashSet;

use tidemark_debezium::{TypeInfo, TypeKind, TypeRegistry};
use tidemark_model::{quote_ident, Column, ReplicaIdentity, TableId, TableSchema};
use tidemark_pgwire::Dsn;
use tokio_postgres::Client;

use crate::SourceError;

/// A SQL connection to a source with its DSN (for error messages).
#[derive(Debug)]
pub struct Catalog {
    /// The client.
    pub client: Client,
    dsn: Dsn,
}

/// Slot facts from `pg_replication_slots`.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    /// Output plugin.
    pub plugin: Option<String>,
    /// Database.
    pub database: Option<String>,
    /// PID of the walsender using it.
    pub active_pid: Option<i32>,
    /// `reserved`, `extended`, `unreserved`, `lost`.
    pub wal_status: Option<String>,
    /// Confirmed position.
    pub confirmed_flush_lsn: Option<String>,
}

impl Catalog {
    /// Connect, mapping authentication and reachability failures to their specific errors.
    pub async fn connect(dsn: &Dsn) -> Result<Catalog, SourceError> {
        let client = tidemark_pgwire::sql::connect(dsn)
            .await
            .map_err(|e| SourceError::from_connect(e, &dsn.user, &dsn.addr()))?;
        Ok(Catalog { client, dsn: dsn.clone() })
    }

    pub(crate) fn err(&self, e: tokio_postgres::Error) -> SourceError {
        SourceError::Pg(tidemark_pgwire::sql::map_err(&self.dsn, e))
    }

    /// `wal_level` must be logical and the role must be allowed to replicate.
    pub async fn check_replication_prerequisites(&self) -> Result<(), SourceError> {
        let row = self
            .client
            .query_one("SELECT current_setting('wal_level')", &[])
            .await
            .map_err(|e| self.err(e))?;
        let level: String = row.get(0);
        if level != "logical" {
            return Err(SourceError::WalLevel(level));
        }
        let row = self
            .client
            .query_one(
                "SELECT r.rolreplication OR r.rolsuper, current_user::text FROM pg_roles r WHERE r.rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let ok: bool = row.get(0);
        let user: String = row.get(1);
        if !ok {
            // Managed services grant replication through a role membership instead of the attribute.
            let member = self
                .client
                .query_opt(
                    "SELECT 1 FROM pg_roles r WHERE r.rolname IN ('rds_replication','azure_pg_admin','cloudsqlsuperuser') \
                     AND pg_has_role(current_user, r.oid, 'member')",
                    &[],
                )
                .await
                .map_err(|e| self.err(e))?;
            if member.is_none() {
                return Err(SourceError::NoReplicationRole(user));
            }
        }
        Ok(())
    }

    /// Resolve `schema.table` names (unquoted, case-sensitive; `table` alone means `public.table`).
    pub async fn resolve_tables(&self, names: &[String]) -> Result<Vec<(u32, TableId)>, SourceError> {
        let mut out = Vec::new();
        for n in names {
            let id = parse_table_name(n);
            let row = self
                .client
                .query_opt(
                    "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p')",
                    &[&id.schema, &id.name],
                )
                .await
                .map_err(|e| self.err(e))?;
            match row {
                Some(r) => out.push((r.get::<_, u32>(0), id)),
                None => return Err(SourceError::NoSuchTable(id.to_string())),
            }
        }
        Ok(out)
    }

    /// Ensure the publication exists and covers `tables` (creating it when absent and tables were
    /// given); return the tables it publishes.
    pub async fn ensure_publication(
        &self,
        name: &str,
        tables: &[String],
    ) -> Result<Vec<TableId>, SourceError> {
        let exists = self
            .client
            .query_opt("SELECT puballtables FROM pg_publication WHERE pubname = $1", &[&name])
            .await
            .map_err(|e| self.err(e))?;
        let resolved = self.resolve_tables(tables).await?;
        match exists {
            None if resolved.is_empty() => return Err(SourceError::NoPublication(name.to_string())),
            None => {
                let list = resolved.iter().map(|(_, t)| t.quoted()).collect::<Vec<_>>().join(", ");
                let with = if self.server_version().await? >= 130000 {
                    " WITH (publish_via_partition_root = true)"
                } else {
                    ""
                };
                // Refuse before creating: a publication on a table without a usable replica identity
                // makes PostgreSQL reject the application's UPDATE and DELETE on it.
                let oids: Vec<u32> = resolved.iter().map(|(o, _)| *o).collect();
                crate::stream::preflight::refuse_unsafe_identity(self, &oids).await?;
                let sql = format!("CREATE PUBLICATION {} FOR TABLE {list}{with}", quote_ident(name));
                if let Err(e) = self.client.batch_execute(&sql).await {
                    return Err(
                        crate::stream::preflight::create_publication_error(self, name, &list, e).await
                    );
                }
                tracing::info!(publication = name, tables = %list, "created publication");
            }
            Some(_) => {}
        }
        let published = self.publication_tables(name).await?;
        if published.is_empty() {
            return Err(SourceError::EmptyPublication(name.to_string()));
        }
        for (_, t) in &resolved {
            if !published.contains(t) && !self.published_via_partition(name, t).await? {
                return Err(SourceError::TableNotPublished {
                    publication: name.to_string(),
                    table: t.to_string(),
                });
            }
        }
        Ok(published)
    }

    async fn published_via_partition(&self, publication: &str, t: &TableId) -> Result<bool, SourceError> {
        // A partitioned root named in --tables is published through its partitions when
        // publish_via_partition_root is off; pg_publication_tables then lists the leaves.
        let row = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_publication_tables pt JOIN pg_class c ON c.relname = pt.tablename \
                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = pt.schemaname \
                 WHERE pt.pubname = $1 AND c.oid IN (SELECT relid FROM pg_partition_tree(($2 || '.' || $3)::regclass)))",
                &[&publication, &quote_ident(&t.schema), &quote_ident(&t.name)],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    /// Tables a publication publishes.
    pub async fn publication_tables(&self, name: &str) -> Result<Vec<TableId>, SourceError> {
        let rows = self
            .client
            .query("SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2", &[&name])
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| TableId::new(r.get::<_, String>(0), r.get::<_, String>(1))).collect())
    }

    /// Whether a publication exists.
    pub async fn publication_exists(&self, name: &str) -> Result<bool, SourceError> {
        let r = self
            .client
            .query_opt("SELECT 1 FROM pg_publication WHERE pubname = $1", &[&name])
            .await
            .map_err(|e| self.err(e))?;
        Ok(r.is_some())
    }

    /// Every ordinary and partitioned table outside the system schemas (to expand filter patterns
    /// into the table list of a publication tidemark creates).
    pub async fn user_tables(&self) -> Result<Vec<TableId>, SourceError> {
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p') AND NOT c.relispartition \
                   AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
                 ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| TableId::new(r.get::<_, String>(0), r.get::<_, String>(1))).collect())
    }

    /// Published tables whose REPLICA IDENTITY USING INDEX covers other columns than their primary
    /// key: `(table, identity columns, primary-key columns)`. Their deletes carry only the identity
    /// columns, so a key made of the primary key cannot be filled.
    pub async fn identity_index_not_pk(
        &self,
        publication: &str,
    ) -> Result<Vec<(TableId, Vec<String>, Vec<String>)>, SourceError> {
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text, \
                   ARRAY(SELECT a.attname::text FROM unnest(ri.indkey::int2[]) WITH ORDINALITY k(attnum, o) \
                         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.o), \
                   ARRAY(SELECT a.attname::text FROM unnest(pk.indkey::int2[]) WITH ORDINALITY k(attnum, o) \
                         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.o) \
                 FROM pg_publication_tables pt \
                 JOIN pg_namespace n ON n.nspname = pt.schemaname \
                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename \
                 JOIN pg_index ri ON ri.indrelid = c.oid AND ri.indisreplident \
                 JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary \
                 WHERE pt.pubname = $1 AND c.relreplident = 'i' \
                   AND NOT (ri.indkey::int2[] @> pk.indkey::int2[] AND ri.indkey::int2[] <@ pk.indkey::int2[]) \
                 ORDER BY 1, 2",
                &[&publication],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| (TableId::new(r.get::<_, String>(0), r.get::<_, String>(1)), r.get(2), r.get(3)))
            .collect())
    }

    /// Fail when a published table would make UPDATE/DELETE error out (no key, identity DEFAULT/NOTHING).
    pub async fn check_replica_identity(&self, publication: &str) -> Result<(), SourceError> {
        let rows = self
            .client
            .query(
                "SELECT c.oid FROM pg_publication_tables pt \
                 JOIN pg_namespace n ON n.nspname = pt.schemaname \
                 JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename \
                 JOIN pg_publication p ON p.pubname = pt.pubname \
                 WHERE pt.pubname = $1 AND (p.pubupdate OR p.pubdelete)",
                &[&publication],
            )
            .await
            .map_err(|e| self.err(e))?;
        let oids: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
        crate::stream::preflight::refuse_unsafe_identity(self, &oids).await
    }

    /// Server version number (e.g. 150004).
    pub async fn server_version(&self) -> Result<u32, SourceError> {
        let r = self
            .client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|e| self.err(e))?;
        Ok(r.get::<_, i32>(0) as u32)
    }

    /// Current database name.
    pub async fn current_database(&self) -> Result<String, SourceError> {
        let r =
            self.client.query_one("SELECT current_database()::text", &[]).await.map_err(|e| self.err(e))?;
        Ok(r.get(0))
    }

    /// Slot facts, or `None` when it does not exist.
    pub async fn slot(&self, name: &str) -> Result<Option<SlotInfo>, SourceError> {
        let r = self
            .client
            .query_opt(
                "SELECT plugin::text, database::text, active_pid, wal_status, confirmed_flush_lsn::text \
                 FROM pg_replication_slots WHERE slot_name = $1",
                &[&name],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(r.map(|r| SlotInfo {
            plugin: r.get(0),
            database: r.get(1),
            active_pid: r.get(2),
            wal_status: r.get(3),
            confirmed_flush_lsn: r.get(4),
        }))
    }

    /// Check an existing slot is usable by us.
    pub async fn check_slot(&self, name: &str) -> Result<Option<SlotInfo>, SourceError> {
        let Some(s) = self.slot(name).await? else { return Ok(None) };
        let db = self.current_database().await?;
        if s.plugin.as_deref() != Some("pgoutput") {
            return Err(SourceError::SlotMismatch {
                slot: name.into(),
                reason: format!(
                    "it uses output plugin {:?}, tidemark needs pgoutput",
                    s.plugin.clone().unwrap_or_default()
                ),
            });
        }
        if s.database.as_deref() != Some(db.as_str()) {
            return Err(SourceError::SlotMismatch {
                slot: name.into(),
                reason: format!(
                    "it belongs to database {:?}, not {db:?}",
                    s.database.clone().unwrap_or_default()
                ),
            });
        }
        if s.wal_status.as_deref() == Some("lost") {
            return Err(SourceError::SlotLost {
                slot: name.into(),
                confirmed: s.confirmed_flush_lsn.clone().unwrap_or_else(|| "?".into()),
            });
        }
        if let Some(pid) = s.active_pid {
            return Err(SourceError::SlotInUse { slot: name.into(), pid: pid.to_string() });
        }
        Ok(Some(s))
    }

    /// Enrich a pgoutput relation with catalog facts: NOT NULL, defaults, primary-key order.
    pub async fn table_schema(
        &self,
        oid: u32,
        id: TableId,
        replica_identity: ReplicaIdentity,
        columns: Vec<Column>,
    ) -> Result<TableSchema, SourceError> {
        let fallback = TableSchema {
            oid,
            id: id.clone(),
            replica_identity,
            columns: columns.clone(),
            primary_key: Vec::new(),
        };
        Ok(self.table_facts(oid, id, replica_identity, columns).await?.unwrap_or(fallback))
    }

    /// A table's shape as a Relation message would describe it now (columns in attribute order, key
    /// flags on the replica-identity columns), enriched like [`Catalog::table_schema`], plus whether it
    /// is a partitioned table (no storage of its own). `None` when it does not exist. Snapshots use it
    /// so their events carry the same schema and key as the stream's.
    pub async fn relation_schema(&self, id: &TableId) -> Result<Option<(TableSchema, bool)>, SourceError> {
        let Some(r) = self
            .client
            .query_opt(
                "SELECT c.oid, c.relreplident::text, c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[&id.quoted()],
            )
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let oid: u32 = r.get(0);
        let ident: String = r.get(1);
        let identity = ReplicaIdentity::from_byte(ident.as_bytes().first().copied().unwrap_or(b'd'));
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, a.atttypid, a.atttypmod,                    CASE $2 WHEN 'f' THEN true WHEN 'n' THEN false ELSE EXISTS (SELECT 1 FROM pg_index i                      WHERE i.indrelid = a.attrelid AND a.attnum = ANY (i.indkey::int2[])                        AND CASE $2 WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END) END                  FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&oid, &ident],
            )
            .await
            .map_err(|e| self.err(e))?;
        let columns = rows
            .iter()
            .map(|r| Column {
                name: r.get(0),
                type_oid: r.get(1),
                type_modifier: r.get(2),
                is_key: r.get(3),
                nullable: true,
                default: None,
            })
            .collect();
        let partitioned: bool = r.get(2);
        Ok(Some((self.table_schema(oid, id.clone(), identity, columns).await?, partitioned)))
    }

    /// Like [`Catalog::table_schema`], but `None` when relation `oid` no longer exists (dropped, or
    /// dropped and re-created under a new OID) so the caller can fall back to what it learned.
    pub async fn table_facts(
        &self,
        oid: u32,
        id: TableId,
        replica_identity: ReplicaIdentity,
        mut columns: Vec<Column>,
    ) -> Result<Option<TableSchema>, SourceError> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, a.attnotnull, pg_get_expr(d.adbin, d.adrelid), \
                   (SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary) \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
                &[&oid],
            )
            .await
            .map_err(|e| self.err(e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut pk: Vec<(i32, usize)> = Vec::new();
        for r in &rows {
            let name: String = r.get(0);
            if let Some(i) = columns.iter().position(|c| c.name == name) {
                let c = &mut columns[i];
                c.nullable = !r.get::<_, bool>(1);
                c.default = r.get(2);
                if let Some(pos) = r.get::<_, Option<i32>>(3) {
                    pk.push((pos, i));
                }
            }
        }
        pk.sort();
        Ok(Some(TableSchema {
            oid,
            id,
            replica_identity,
            columns,
            primary_key: pk.into_iter().map(|(_, i)| i).collect(),
        }))
    }

    /// Register every non-built-in type `oids` need (domains' bases, arrays' elements, enum labels).
    pub async fn load_types(
        &self,
        reg: &mut TypeRegistry,
        oids: impl IntoIterator<Item = u32>,
    ) -> Result<(), SourceError> {
        self.read_types(reg, oids.into_iter().filter(|o| !reg.knows(*o)).collect(), false).await
    }

    /// Re-read the non-built-in types `oids` need even when already registered (enum labels added
    /// since). A type the catalog no longer has keeps its registered entry.
    pub async fn refresh_types(
        &self,
        reg: &mut TypeRegistry,
        oids: impl IntoIterator<Item = u32>,
    ) -> Result<(), SourceError> {
        let todo = oids.into_iter().filter(|o| !tidemark_debezium::is_builtin(*o)).collect();
        self.read_types(reg, todo, true).await
    }

    async fn read_types(
        &self,
        reg: &mut TypeRegistry,
        mut todo: Vec<u32>,
        force: bool,
    ) -> Result<(), SourceError> {
        let mut seen = HashSet::new();
        while let Some(oid) = todo.pop() {
            if !seen.insert(oid) || (!force && reg.knows(oid)) || tidemark_debezium::is_builtin(oid) {
                continue;
            }
            let Some(r) = self
                .client
                .query_opt(
                    "SELECT n.nspname::text, t.typname::text, t.typtype::text, t.typbasetype, t.typtypmod, t.typelem, \
                       t.typcategory::text, \
                       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) \
                     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1",
                    &[&oid],
                )
                .await
                .map_err(|e| self.err(e))?
            else {
                continue;
            };
            let typtype: String = r.get(2);
            let base: u32 = r.get(3);
            let typmod: i32 = r.get(4);
            let elem: u32 = r.get(5);
            let category: String = r.get(6);
            let kind = match typtype.as_str() {
                "e" => TypeKind::Enum(r.get::<_, Option<Vec<String>>>(7).unwrap_or_default()),
                "d" => {
                    todo.push(base);
                    TypeKind::Domain { base, typmod }
                }
                "r" | "m" => TypeKind::Range,
                "b" if category == "A" && elem != 0 => {
                    todo.push(elem);
                    TypeKind::Array { elem }
                }
                "b" => TypeKind::Base,
                _ => TypeKind::Other,
            };
            reg.insert(TypeInfo { oid, namespace: r.get(0), name: r.get(1), kind });
        }
        Ok(())
    }

    /// Emit a non-transactional logical message (heartbeat / watermark).
    pub async fn emit_message(&self, prefix: &str, content: &str) -> Result<String, SourceError> {
        let r = self
            .client
            .query_one("SELECT pg_logical_emit_message(false, $1, $2)::text", &[&prefix, &content])
            .await
            .map_err(|e| self.err(e))?;
        Ok(r.get(0))
    }
}

/// `schema.table` (quotes allowed: `"My.Schema"."T"`); a bare name means `public`.
pub fn parse_table_name(s: &str) -> TableId {
    let s = s.trim();
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    if parts.len() == 1 {
        TableId::new("public", parts.remove(0))
    } else {
        let name = parts.pop().unwrap_or_default();
        TableId::new(parts.join("."), name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert_eq!(parse_table_name("t"), TableId::new("public", "t"));
        assert_eq!(parse_table_name("s.t"), TableId::new("s", "t"));
        assert_eq!(parse_table_name("\"My.S\".\"T\"\"x\""), TableId::new("My.S", "T\"x"));
    }
}
