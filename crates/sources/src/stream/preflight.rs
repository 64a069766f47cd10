//! Preflight of `tidemark stream`: decide whether a start may go ahead *before* anything is created on
//! the source, create what is missing, and undo what a refused start created.
//!
//! Invariants:
//! - names are validated first (a slot name PostgreSQL rejects, a publication name it would truncate,
//!   empty names) — nothing is created for a start that is refused;
//! - tidemark never creates a publication that makes PostgreSQL reject the application's UPDATE or
//!   DELETE (a table without a usable replica identity); an existing one is warned about and streamed;
//! - a publication created by a start that then fails is dropped again;
//! - a slot tidemark has streamed from before (its offsets file says so) is never silently re-created
//!   or streamed from when it is missing, invalidated, or confirmed past what tidemark confirmed: that
//!   is a gap, named with its LSNs, and refused;
//! - a slot held by another walsender is retried `slot_max_retries` times, then refused.

use std::time::Instant;

use tidemark_model::{Lsn, TableId};
use tidemark_pgwire::replication::IdentifySystem;
use tidemark_pgwire::ReplicationStream;

use super::offsets::OffsetStore;
use super::{history, map_slot_error, StreamOptions};
use crate::catalog::{Catalog, SlotInfo};
use crate::filter::TableFilter;
use crate::snapshot::Exported;
use crate::SourceError;

/// PostgreSQL's longest identifier (NAMEDATALEN - 1 bytes); longer ones are truncated or rejected.
const MAX_NAME: usize = 63;

/// A slot name PostgreSQL accepts: lower-case letters, digits and `_`, 1 to 63 characters.
pub fn check_slot_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("it is {} characters long; PostgreSQL allows at most {MAX_NAME}", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!(
            "it contains {c:?}; replication slot names may contain only lower-case letters, digits and underscores"
        ));
    }
    Ok(())
}

/// A publication name PostgreSQL keeps as given: 1 to 63 bytes.
pub fn check_publication_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "it is {} bytes long; PostgreSQL truncates names to {MAX_NAME} bytes, so tidemark would look for a \
             publication that does not exist",
            name.len()
        ));
    }
    Ok(())
}

/// Every name in the options, before anything touches the source.
pub fn validate_names(opts: &StreamOptions) -> Result<(), SourceError> {
    let invalid = |what: &str, value: &str, reason: String, fix: &str| SourceError::InvalidName {
        what: what.into(),
        value: value.into(),
        reason,
        fix: fix.into(),
    };
    check_slot_name(&opts.slot).map_err(|r| {
        invalid(
            "slot.name",
            &opts.slot,
            r,
            "pass --slot with lower-case letters, digits and _ (e.g. tidemark_orders)",
        )
    })?;
    check_publication_name(&opts.publication).map_err(|r| {
        invalid("publication.name", &opts.publication, r, "pass --publication with a shorter name")
    })?;
    if let Some(t) = opts.tables.iter().find(|t| t.trim().is_empty() || t.trim() == "\"\"") {
        return Err(invalid(
            "table.include.list",
            t,
            "it names an empty table".into(),
            "list tables as schema.table,schema.table",
        ));
    }
    Ok(())
}

/// Refuse when any of these tables (by oid) has no usable replica identity, naming exactly what is wrong
/// with each (a table with a primary key is never called keyless).
pub(crate) async fn refuse_unsafe_identity(catalog: &Catalog, oids: &[u32]) -> Result<(), SourceError> {
    if oids.is_empty() {
        return Ok(());
    }
    let rows = catalog
        .client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname), c.relreplident::text, \
               EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), \
               EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) ORDER BY 1",
            &[&oids.to_vec()],
        )
        .await
        .map_err(|e| catalog.err(e))?;
    let mut details = Vec::new();
    let mut fixes = Vec::new();
    for r in &rows {
        let (table, ident, pk, ri): (String, String, bool, bool) = (r.get(0), r.get(1), r.get(2), r.get(3));
        let problem = match (ident.as_str(), pk, ri) {
            ("n", true, _) => Some("has a primary key, but REPLICA IDENTITY NOTHING"),
            ("n", false, _) => Some("no primary key, REPLICA IDENTITY NOTHING"),
            ("d", false, _) => Some("no primary key, REPLICA IDENTITY DEFAULT"),
            ("i", _, false) => Some("REPLICA IDENTITY USING INDEX, but that index no longer exists"),
            _ => None,
        };
        let Some(problem) = problem else { continue };
        details.push(format!("{table} ({problem})"));
        fixes.push(if pk {
            format!("`ALTER TABLE {table} REPLICA IDENTITY DEFAULT;`")
        } else {
            format!(
                "add a primary key to {table}, or `ALTER TABLE {table} REPLICA IDENTITY FULL;` (or USING INDEX on \
                 a unique NOT NULL index)"
            )
        });
    }
    if details.is_empty() {
        return Ok(());
    }
    Err(SourceError::NoReplicaIdentity { tables: details.join(", "), fix: fixes.join("; ") })
}

/// Turn a failed CREATE PUBLICATION into its specific error.
pub(crate) async fn create_publication_error(
    catalog: &Catalog,
    name: &str,
    tables: &str,
    e: tokio_postgres::Error,
) -> SourceError {
    let denied = e.as_db_error().filter(|d| d.code().code() == "42501").map(|d| d.message().to_string());
    let Some(reason) = denied else { return catalog.err(e) };
    let who = catalog
        .client
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .await
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .unwrap_or_default();
    SourceError::NoCreatePrivilege {
        user: who.0,
        publication: name.into(),
        database: who.1,
        tables: tables.into(),
        reason,
    }
}

/// What a successful preflight hands to the stream.
#[derive(Debug)]
pub struct Prepared {
    /// SQL connection to the source.
    pub catalog: Catalog,
    /// tidemark's record of confirmed positions (when configured).
    pub offsets: Option<OffsetStore>,
    /// The slot was just created for an initial snapshot: the connection that created it (its export
    /// lives as long as this does) and the exported snapshot.
    pub export: Option<(ReplicationStream, Exported)>,
}

/// Preflight checks, then creation of the publication and slot; a refused start leaves nothing behind.
pub async fn prepare(opts: &StreamOptions) -> Result<Prepared, SourceError> {
    validate_names(opts)?;
    let catalog = Catalog::connect(&opts.dsn).await?;
    catalog.check_replication_prerequisites().await?;
    let mut rs = ReplicationStream::connect(&opts.dsn)
        .await
        .map_err(|e| SourceError::from_connect(e, &opts.dsn.user, &opts.dsn.addr()))?;
    let sys = rs.identify_system().await?;
    let database = catalog.current_database().await?;
    let existed = catalog.publication_exists(&opts.publication).await?;
    match prepare_inner(opts, &catalog, &mut rs, &sys, &database, existed).await {
        Ok((offsets, Some(exported))) => Ok(Prepared { catalog, offsets, export: Some((rs, exported)) }),
        Ok((offsets, None)) => {
            rs.finish().await?;
            Ok(Prepared { catalog, offsets, export: None })
        }
        Err(e) => {
            if !existed && catalog.publication_exists(&opts.publication).await.unwrap_or(false) {
                let sql = format!("DROP PUBLICATION {}", tidemark_model::quote_ident(&opts.publication));
                match catalog.client.batch_execute(&sql).await {
                    Ok(()) => tracing::info!(
                        publication = %opts.publication,
                        "dropped the publication this refused start had created"
                    ),
                    Err(de) => tracing::warn!(
                        publication = %opts.publication,
                        error = %catalog.err(de),
                        "could not drop the publication this refused start created; drop it by hand"
                    ),
                }
            }
            Err(e)
        }
    }
}

async fn prepare_inner(
    opts: &StreamOptions,
    catalog: &Catalog,
    rs: &mut ReplicationStream,
    sys: &IdentifySystem,
    database: &str,
    existed: bool,
) -> Result<(Option<OffsetStore>, Option<Exported>), SourceError> {
    let offsets = match &opts.offsets {
        Some(storage) => Some(OffsetStore::open(storage, &opts.slot, sys, database)?),
        None => None,
    };
    // A run killed during its initial snapshot: nothing was confirmed from the slot it created, so it
    // is dropped and the snapshot taken again in a fresh export (see `crate::snapshot`).
    let redo_snapshot = offsets.as_ref().is_some_and(OffsetStore::snapshot_was_pending);
    if redo_snapshot && !opts.snapshot.mode.takes_data() {
        let o = offsets.as_ref().expect("pending implies a file");
        return Err(SourceError::Offsets {
            path: o.path().display().to_string(),
            reason: "records an initial snapshot that was interrupted before it finished".into(),
            fix: "run with snapshot.mode=initial to take it again (the slot is recreated), or delete the file and \
                  drop the slot to start without one"
                .into(),
        });
    }
    if redo_snapshot && catalog.slot(&opts.slot).await?.is_some() {
        wait_for_slot(opts, catalog).await?;
        catalog
            .client
            .execute("SELECT pg_drop_replication_slot($1)", &[&opts.slot])
            .await
            .map_err(|e| catalog.err(e))?;
        tracing::warn!(slot = %opts.slot, "the previous run stopped during its initial snapshot; dropped the slot it had created (nothing was confirmed from it) to take the snapshot again");
    }
    let recorded = if redo_snapshot { None } else { offsets.as_ref().and_then(OffsetStore::recorded) };
    let fresh = |extra: &str| match &offsets {
        Some(o) => format!("{extra}delete {} and start tidemark again", o.path().display()),
        None => format!("{extra}start tidemark again"),
    };
    let now = sys.xlogpos;
    let existing = catalog.slot(&opts.slot).await?;
    let slot_lsn = existing.as_ref().and_then(|s| s.confirmed_flush_lsn.as_deref()?.parse::<Lsn>().ok());
    if let (Some(from), Some(s)) = (recorded, &existing) {
        if s.wal_status.as_deref() == Some("lost") {
            return Err(SourceError::SlotGap {
                slot: opts.slot.clone(),
                reason: "was invalidated (wal_status=lost): the WAL it needed was removed".into(),
                from,
                to: now,
                fresh: fresh(&format!("`SELECT pg_drop_replication_slot('{}');`, ", opts.slot)),
            });
        }
    }
    if existing.is_some() {
        wait_for_slot(opts, catalog).await?;
    }
    if let Some(e) = gap(opts, existing.is_some(), slot_lsn, recorded, now, &fresh) {
        return Err(e);
    }
    // Every slot check above; the publication is created (when missing) only now, and a failure
    // from here on drops it again (see `prepare`).
    let filter = TableFilter::new(&opts.tables, &opts.exclude_tables)?;
    let names = publication_names(catalog, &opts.publication, &filter).await?;
    let published = catalog.ensure_publication(&opts.publication, &names).await?;
    report_filtered(&opts.publication, &published, &filter);
    if existed {
        // Debezium streams an existing publication whatever its tables' replica identity; so do we.
        match catalog.check_replica_identity(&opts.publication).await {
            Err(SourceError::NoReplicaIdentity { tables, fix }) => tracing::warn!(
                publication = %opts.publication,
                "streaming anyway, as Debezium does: inserts are captured, but PostgreSQL rejects UPDATE and \
                 DELETE on these published tables: {tables}. Fix: {fix}"
            ),
            other => other?,
        }
    }
    for (t, ident, pk) in catalog.identity_index_not_pk(&opts.publication).await? {
        let full = format!("{}.{}", t.schema, t.name);
        if filter.includes(&t) && !opts.encoder.message_key_columns.iter().any(|(re, _)| re.is_match(&full)) {
            tracing::warn!("{}", history::identity_index_warning(&t, &ident.join(","), &pk.join(",")));
        }
    }
    match (existing, recorded) {
        (None, _) => {
            let snapshot = opts.snapshot.mode.takes_data();
            if snapshot {
                if let Some(o) = &offsets {
                    // Before the slot exists: a crash from here on is recognised at the next start.
                    o.record_snapshot(Lsn::ZERO, true)?;
                }
            }
            let created = match rs.create_slot(&opts.slot, false, snapshot).await {
                Ok(c) => c,
                Err(e) if e.code() == Some("53400") => {
                    let max = catalog
                        .client
                        .query_one("SELECT current_setting('max_replication_slots')", &[])
                        .await
                        .map(|r| r.get::<_, String>(0))
                        .unwrap_or_else(|_| "?".into());
                    return Err(SourceError::NoFreeSlots { slot: opts.slot.clone(), max });
                }
                Err(e) => return Err(map_slot_error(e, &opts.slot)),
            };
            let at = created.consistent_point;
            tracing::info!(slot = %opts.slot, consistent_point = %at, "created replication slot");
            if let Some(o) = &offsets {
                o.record_snapshot(at, snapshot)?;
            }
            let exported = match created.snapshot_name {
                Some(name) if snapshot => Some(Exported { name, consistent_point: at }),
                _ => None,
            };
            Ok((offsets, exported))
        }
        (Some(_), Some(from)) => {
            if slot_lsn.is_some_and(|l| l < from) {
                tracing::info!(slot = %opts.slot, recorded = %from, slot_lsn = %slot_lsn.unwrap_or_default(), "the slot is behind tidemark's offsets (stopped before the slot took the last confirmation); changes after the slot's position are sent again");
            }
            Ok((offsets, None))
        }
        (Some(_), None) => {
            if let (Some(o), Some(l)) = (&offsets, slot_lsn) {
                tracing::info!(slot = %opts.slot, position = %l, path = %o.path().display(), "adopting an existing slot; recording its position");
                o.record(l)?;
            }
            if offsets.is_some() && opts.snapshot.mode.takes_data() {
                tracing::warn!(slot = %opts.slot, "the slot already exists, so no snapshot consistent with it can be exported: streaming without an initial snapshot (drop the slot to take one, or use tidemark diff to backfill)");
            }
            Ok((offsets, None))
        }
    }
}

/// A gap between what tidemark confirmed (`recorded`) and where the slot would resume.
fn gap(
    opts: &StreamOptions,
    exists: bool,
    slot_lsn: Option<Lsn>,
    recorded: Option<Lsn>,
    now: Lsn,
    fresh: &dyn Fn(&str) -> String,
) -> Option<SourceError> {
    let from = recorded?;
    if !exists {
        return Some(SourceError::SlotGap {
            slot: opts.slot.clone(),
            reason: "no longer exists (dropped, or lost in a failover or restore) although tidemark streamed from it"
                .into(),
            from,
            to: now,
            fresh: fresh("tidemark then creates the slot anew: "),
        });
    }
    let at = slot_lsn?;
    (at > from).then(|| SourceError::SlotGap {
        slot: opts.slot.clone(),
        reason: format!(
            "was confirmed up to {at} by something other than this tidemark (pg_replication_slot_advance, another \
             consumer of the slot)"
        ),
        from,
        to: at,
        fresh: fresh("tidemark then continues from the slot's position: "),
    })
}

/// Check the slot is usable, waiting (bounded) while another walsender still holds it.
async fn wait_for_slot(opts: &StreamOptions, catalog: &Catalog) -> Result<Option<SlotInfo>, SourceError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match catalog.check_slot(&opts.slot).await {
            Err(SourceError::SlotInUse { slot, pid }) => {
                if attempt > opts.slot_max_retries {
                    return Err(SourceError::SlotBusy {
                        slot,
                        pid,
                        attempts: attempt,
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                tracing::warn!(slot = %slot, pid = %pid, attempt, "replication slot is in use by another process; retrying in {:?}", opts.slot_retry_delay);
                tokio::time::sleep(opts.slot_retry_delay).await;
            }
            other => return other,
        }
    }
}

/// Explain a stream failure that names a missing slot or publication.
pub(crate) async fn explain(
    e: SourceError,
    opts: &StreamOptions,
    catalog: &Catalog,
    confirmed: Lsn,
) -> SourceError {
    let SourceError::Pg(tidemark_pgwire::PgError::Server(s)) = &e else { return e };
    if s.code != "42704" {
        return e;
    }
    let offsets_note = match &opts.offsets_store {
        Some(o) => format!("delete the offsets file {}, ", o.path().display()),
        None => String::new(),
    };
    if s.message.contains("replication slot") {
        let from = opts
            .offsets_store
            .as_ref()
            .map(|o| o.last_written())
            .filter(|l| !l.is_zero())
            .unwrap_or(confirmed);
        let to = current_wal(catalog).await.unwrap_or(from);
        let fresh = match &opts.offsets_store {
            Some(o) => format!(
                "tidemark then creates the slot anew: delete {} and start tidemark again",
                o.path().display()
            ),
            None => "start tidemark again (it creates the slot)".into(),
        };
        return SourceError::SlotGap {
            slot: opts.slot.clone(),
            reason: "was dropped while tidemark was streaming from it".into(),
            from,
            to,
            fresh,
        };
    }
    if s.message.contains("publication") {
        let exists = catalog.publication_exists(&opts.publication).await.unwrap_or(false);
        if !exists {
            return SourceError::PublicationDropped {
                publication: opts.publication.clone(),
                slot: opts.slot.clone(),
            };
        }
        let slot_lsn = catalog
            .slot(&opts.slot)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.confirmed_flush_lsn?.parse::<Lsn>().ok())
            .unwrap_or(confirmed);
        return SourceError::PublicationAfterSlot {
            publication: opts.publication.clone(),
            slot: opts.slot.clone(),
            slot_lsn,
            offsets: offsets_note,
        };
    }
    e
}

async fn current_wal(catalog: &Catalog) -> Option<Lsn> {
    let r = catalog.client.query_one("SELECT pg_current_wal_lsn()::text", &[]).await.ok()?;
    r.get::<_, String>(0).parse().ok()
}

/// The tables to name when creating (or checking) the publication: the filter's exact names, plus,
/// when tidemark creates the publication, the catalog's tables its patterns or exclusions select.
async fn publication_names(
    catalog: &Catalog,
    publication: &str,
    filter: &TableFilter,
) -> Result<Vec<String>, SourceError> {
    let mut names: Vec<TableId> = filter.names();
    if !catalog.publication_exists(publication).await? {
        if filter.needs_catalog() {
            for t in catalog.user_tables().await? {
                if filter.includes(&t) && !names.contains(&t) {
                    names.push(t);
                }
            }
        }
        return Ok(names.iter().map(TableId::quoted).collect());
    }
    // The publication exists: a listed table dropped since may still have changes in the slot,
    // which are emitted (with the shape they had); only tables that exist are checked.
    let mut existing = Vec::new();
    for t in names {
        match catalog.resolve_tables(&[t.quoted()]).await {
            Ok(_) => existing.push(t.quoted()),
            Err(SourceError::NoSuchTable(_)) => {
                tracing::warn!(table = %t, "a listed table does not exist (dropped?); changes of it still in the slot are emitted, nothing more will come")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(existing)
}

/// Say which published tables the filter leaves out (their changes are decoded, never emitted).
fn report_filtered(publication: &str, published: &[TableId], filter: &TableFilter) {
    if filter.is_empty() {
        return;
    }
    let (kept, left): (Vec<&TableId>, Vec<&TableId>) = published.iter().partition(|t| filter.includes(t));
    if kept.is_empty() {
        tracing::warn!(
            publication,
            "the table filter leaves out every table the publication publishes; nothing will be emitted"
        );
    } else if !left.is_empty() {
        let list = left.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
        tracing::info!(publication, tables = %list, "published tables outside the table filter; their changes are never emitted");
    }
}
