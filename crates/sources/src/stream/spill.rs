//! Disk spill for in-progress transactions streamed by pgoutput protocol 2.
//!
//! A streamed transaction's chunks arrive before we know whether it commits, interleaved with other
//! transactions. Emitting them early could publish changes that are later rolled back; holding them in
//! memory breaks the bounded-memory contract. So each top-level transaction's raw messages are
//! appended to its own file and replayed, in order, at Stream Commit.
//!
//! Subtransaction aborts (ROLLBACK TO SAVEPOINT) truncate the file back to where that subtransaction's
//! first message was written; this is correct because a subtransaction's abort is decoded right after
//! its own changes and before any later ones (the same rule PostgreSQL's apply worker uses).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tidemark_model::Lsn;

struct TxFile {
    path: PathBuf,
    writer: BufWriter<File>,
    len: u64,
    /// (subxid, offset of its first message), in first-seen order.
    subxacts: Vec<(u32, u64)>,
    count: u64,
}

/// Spill files of all open streamed transactions.
pub struct SpillStore {
    dir: PathBuf,
    open: HashMap<u32, TxFile>,
}

impl std::fmt::Debug for SpillStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillStore").field("dir", &self.dir).field("open", &self.open.len()).finish()
    }
}

#[derive(Debug)]
/// Replays a committed transaction's messages: `(wal_start, pgoutput bytes)`.
pub struct Replay {
    reader: BufReader<File>,
    path: PathBuf,
    remaining: u64,
}

impl Replay {
    /// Next message, or `None` at the end.
    pub fn next_message(&mut self) -> std::io::Result<Option<(Lsn, Bytes)>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let mut hdr = [0u8; 12];
        self.reader.read_exact(&mut hdr)?;
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let lsn = Lsn(u64::from_be_bytes(hdr[4..12].try_into().unwrap_or_default()));
        let mut data = vec![0u8; len];
        self.reader.read_exact(&mut data)?;
        self.remaining -= 1;
        Ok(Some((lsn, Bytes::from(data))))
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl SpillStore {
    /// Use `dir` (created; stale files from a crashed run are removed, since the server resends those
    /// transactions).
    pub fn new(dir: &Path) -> std::io::Result<SpillStore> {
        std::fs::create_dir_all(dir)?;
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "spill") {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(SpillStore { dir: dir.to_path_buf(), open: HashMap::new() })
    }

    /// Directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append a message of (sub)transaction `subxid` to top-level transaction `xid`.
    pub fn append(&mut self, xid: u32, subxid: u32, wal_start: Lsn, data: &[u8]) -> std::io::Result<()> {
        if !self.open.contains_key(&xid) {
            let path = self.dir.join(format!("{xid}.spill"));
            let file = OpenOptions::new().create(true).write(true).truncate(true).read(true).open(&path)?;
            self.open.insert(
                xid,
                TxFile {
                    path,
                    writer: BufWriter::with_capacity(1 << 20, file),
                    len: 0,
                    subxacts: Vec::new(),
                    count: 0,
                },
            );
        }
        let tf = self.open.get_mut(&xid).expect("inserted");
        if subxid != xid && !tf.subxacts.iter().any(|(s, _)| *s == subxid) {
            tf.subxacts.push((subxid, tf.len));
        }
        tf.writer.write_all(&(data.len() as u32).to_be_bytes())?;
        tf.writer.write_all(&wal_start.0.to_be_bytes())?;
        tf.writer.write_all(data)?;
        tf.len += 12 + data.len() as u64;
        tf.count += 1;
        Ok(())
    }

    /// Abort: the whole transaction (`subxid == xid`) or one subtransaction.
    pub fn abort(&mut self, xid: u32, subxid: u32) -> std::io::Result<()> {
        if subxid == xid {
            if let Some(tf) = self.open.remove(&xid) {
                drop(tf.writer);
                let _ = std::fs::remove_file(&tf.path);
            }
            return Ok(());
        }
        let Some(tf) = self.open.get_mut(&xid) else { return Ok(()) };
        let Some(pos) = tf.subxacts.iter().position(|(s, _)| *s == subxid) else { return Ok(()) };
        let offset = tf.subxacts[pos].1;
        tf.writer.flush()?;
        // Count the messages that stay.
        let file = tf.writer.get_mut();
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(offset))?;
        tf.len = offset;
        tf.subxacts.truncate(pos);
        let mut count = 0;
        let mut r = BufReader::new(File::open(&tf.path)?);
        let mut read = 0u64;
        while read < offset {
            let mut hdr = [0u8; 12];
            r.read_exact(&mut hdr)?;
            let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
            r.seek_relative(len as i64)?;
            read += 12 + len;
            count += 1;
        }
        tf.count = count;
        Ok(())
    }

    /// Commit: hand back a replay of everything kept for `xid`.
    pub fn commit(&mut self, xid: u32) -> std::io::Result<Option<Replay>> {
        let Some(mut tf) = self.open.remove(&xid) else { return Ok(None) };
        tf.writer.flush()?;
        let mut f = tf.writer.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        Ok(Some(Replay { reader: BufReader::with_capacity(1 << 20, f), path: tf.path, remaining: tf.count }))
    }

    /// Open transactions.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtransaction_abort_truncates_and_commit_replays() {
        let d = tempfile_dir();
        let mut s = SpillStore::new(&d).unwrap();
        s.append(10, 10, Lsn(1), b"a").unwrap();
        s.append(10, 11, Lsn(2), b"b").unwrap();
        s.append(10, 12, Lsn(3), b"c").unwrap();
        s.abort(10, 11).unwrap();
        s.append(10, 13, Lsn(4), b"d").unwrap();
        s.append(20, 20, Lsn(5), b"other").unwrap();
        s.abort(20, 20).unwrap();
        let mut r = s.commit(10).unwrap().unwrap();
        let mut got = Vec::new();
        while let Some((lsn, b)) = r.next_message().unwrap() {
            got.push((lsn, b.to_vec()));
        }
        assert_eq!(got, vec![(Lsn(1), b"a".to_vec()), (Lsn(4), b"d".to_vec())]);
        drop(r);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(d);
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("tidemark-spill-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }
}
