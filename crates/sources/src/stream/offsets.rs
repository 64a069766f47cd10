//! tidemark's own record of how far it confirmed a slot (like Debezium's offset store), so a start can
//! tell "this slot is where I left it" from "the slot was dropped, invalidated or moved by someone
//! else, and changes were lost".
//!
//! Invariants:
//! - the file is written *before* the position is sent to the slot, so the slot is never confirmed
//!   past what the file says unless something other than this tidemark moved it;
//! - every write is atomic: a temporary file in the same directory, fsync, rename, fsync of the
//!   directory; a crash leaves either the old or the new record, never a torn one;
//! - one file records one stream (slot, system identifier, database); a file that records another
//!   stream is never overwritten silently.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tidemark_model::Lsn;
use tidemark_pgwire::replication::IdentifySystem;

use crate::SourceError;

/// Where the offsets file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetStorage {
    /// Exactly this file (`offset.storage.file.filename`).
    File(PathBuf),
    /// A file in this directory named after the system identifier, database and slot.
    Dir(PathBuf),
}

/// What the file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offsets {
    /// Slot name.
    pub slot: String,
    /// `IDENTIFY_SYSTEM`'s system identifier.
    pub system_identifier: String,
    /// Timeline when last written.
    pub timeline: u32,
    /// Database.
    pub database: String,
    /// Last position tidemark confirmed to the slot.
    pub confirmed_lsn: Lsn,
    /// An initial snapshot was started on this slot and has not been made durable in full yet.
    pub snapshot_pending: bool,
}

/// The offsets file of one stream.
#[derive(Debug)]
pub struct OffsetStore {
    path: PathBuf,
    ident: Offsets,
    recorded: Option<Lsn>,
    written: AtomicU64,
    /// Whether the file said an initial snapshot was pending when opened.
    was_pending: bool,
    /// The snapshot flag to write with every record from now on.
    pending: AtomicBool,
}

fn file_name_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

impl OffsetStore {
    /// Open (or prepare to create) the offsets file for `slot` on the system `sys`, database `database`.
    pub fn open(
        storage: &OffsetStorage,
        slot: &str,
        sys: &IdentifySystem,
        database: &str,
    ) -> Result<OffsetStore, SourceError> {
        let path = match storage {
            OffsetStorage::File(p) => p.clone(),
            OffsetStorage::Dir(d) => d.join(format!(
                "tidemark-offsets-{}-{}-{}.json",
                file_name_part(&sys.system_id),
                file_name_part(database),
                file_name_part(slot)
            )),
        };
        let ident = Offsets {
            slot: slot.to_string(),
            system_identifier: sys.system_id.clone(),
            timeline: sys.timeline,
            database: database.to_string(),
            confirmed_lsn: Lsn::ZERO,
            snapshot_pending: false,
        };
        let mut store = OffsetStore {
            path,
            ident,
            recorded: None,
            written: AtomicU64::new(0),
            was_pending: false,
            pending: AtomicBool::new(false),
        };
        let text = match std::fs::read_to_string(&store.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => {
                return Err(store.error(
                    format!("cannot be read: {e}"),
                    "make it readable, or point offset.storage.file.filename elsewhere",
                ))
            }
        };
        let rec = parse(&text).ok_or_else(|| {
            store.error(
                "is not a tidemark offsets file (unparsable)".into(),
                "restore it from a backup, or delete it to start this stream afresh (check for a gap first)",
            )
        })?;
        if rec.slot != store.ident.slot
            || rec.system_identifier != store.ident.system_identifier
            || rec.database != store.ident.database
        {
            return Err(store.error(
                format!(
                    "records slot {:?} of database {:?} on the server with system identifier {}, but this run \
                     streams slot {:?} of database {:?} on system {}",
                    rec.slot,
                    rec.database,
                    rec.system_identifier,
                    slot,
                    database,
                    sys.system_id
                ),
                "give each stream its own offset.storage.file.filename, or delete this file if that stream is gone",
            ));
        }
        if rec.timeline != sys.timeline {
            tracing::warn!(
                path = %store.path.display(),
                recorded = rec.timeline,
                current = sys.timeline,
                "the source's timeline changed since tidemark last confirmed (failover or restore); changes it \
                 streamed after the switch may belong to a history the server no longer has"
            );
        }
        store.written.store(rec.confirmed_lsn.0, Ordering::Relaxed);
        store.recorded = Some(rec.confirmed_lsn);
        store.was_pending = rec.snapshot_pending;
        store.pending.store(rec.snapshot_pending, Ordering::Relaxed);
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position recorded when the store was opened (`None`: no file yet).
    pub fn recorded(&self) -> Option<Lsn> {
        self.recorded
    }

    /// The position last written.
    pub fn last_written(&self) -> Lsn {
        Lsn(self.written.load(Ordering::Relaxed))
    }

    fn error(&self, reason: String, fix: &str) -> SourceError {
        SourceError::Offsets { path: self.path.display().to_string(), reason, fix: fix.into() }
    }

    /// Whether the file said, when opened, that an initial snapshot was started and not finished.
    pub fn snapshot_was_pending(&self) -> bool {
        self.was_pending
    }

    /// Record `lsn` with the initial-snapshot flag: `true` before a snapshot starts (so a run killed
    /// in it is recognised), `false` once all its events are durable.
    pub fn record_snapshot(&self, lsn: Lsn, pending: bool) -> Result<(), SourceError> {
        self.pending.store(pending, Ordering::Relaxed);
        self.write_record(lsn)
    }

    /// Record `lsn` as confirmed (atomically; no-op unless it moves forward or nothing was written yet).
    pub fn record(&self, lsn: Lsn) -> Result<(), SourceError> {
        let prev = self.written.load(Ordering::Relaxed);
        if lsn.0 <= prev && prev != 0 {
            return Ok(());
        }
        self.write_record(lsn)
    }

    /// Write `lsn` with the current snapshot flag, whatever was written before.
    fn write_record(&self, lsn: Lsn) -> Result<(), SourceError> {
        let rec = Offsets {
            confirmed_lsn: lsn,
            snapshot_pending: self.pending.load(Ordering::Relaxed),
            ..self.ident.clone()
        };
        self.write(&rec).map_err(|e| {
            self.error(
                format!("cannot be written: {e}"),
                "give the offsets file's directory space and write permission (tidemark stops rather than \
                 confirm positions it cannot record)",
            )
        })?;
        self.written.store(lsn.0, Ordering::Relaxed);
        Ok(())
    }

    fn write(&self, rec: &Offsets) -> std::io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let body = serde_json::json!({
            "slot": rec.slot,
            "system_identifier": rec.system_identifier,
            "timeline": rec.timeline,
            "database": rec.database,
            "confirmed_lsn": rec.confirmed_lsn.to_string(),
            "snapshot_pending": rec.snapshot_pending,
        });
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string_pretty(&body).unwrap_or_default().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    }
}

/// Parse an offsets file's text.
pub fn parse(text: &str) -> Option<Offsets> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(Offsets {
        slot: v["slot"].as_str()?.to_string(),
        system_identifier: v["system_identifier"].as_str()?.to_string(),
        timeline: v["timeline"].as_u64()? as u32,
        database: v["database"].as_str()?.to_string(),
        confirmed_lsn: v["confirmed_lsn"].as_str()?.parse().ok()?,
        snapshot_pending: v["snapshot_pending"].as_bool().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys() -> IdentifySystem {
        IdentifySystem {
            system_id: "7300".into(),
            timeline: 1,
            xlogpos: Lsn::ZERO,
            dbname: Some("db".into()),
        }
    }

    #[test]
    fn records_round_trip_and_refuse_another_stream() {
        let dir = tempfile::tempdir().unwrap();
        let storage = OffsetStorage::Dir(dir.path().join("state"));
        let s = OffsetStore::open(&storage, "slot", &sys(), "db").unwrap();
        assert_eq!(s.recorded(), None);
        s.record(Lsn(0x1_0000_0010)).unwrap();
        s.record(Lsn(0x10)).unwrap(); // never backwards
        let s = OffsetStore::open(&storage, "slot", &sys(), "db").unwrap();
        assert_eq!(s.recorded(), Some(Lsn(0x1_0000_0010)));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("state")).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        let file = OffsetStorage::File(s.path().to_path_buf());
        let e = OffsetStore::open(&file, "other", &sys(), "db").unwrap_err().to_string();
        assert!(e.contains("records slot \"slot\"") && e.contains("offset.storage.file.filename"), "{e}");
        std::fs::write(s.path(), "{").unwrap();
        assert!(OffsetStore::open(&file, "slot", &sys(), "db").is_err());
    }
}
