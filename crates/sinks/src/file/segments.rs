//! The blocking half of the file sink: per-topic segment files, rotation and crash repair. It runs
//! only on the sink's own I/O thread ([`super::FileSink`]), never on an async worker.
//!
//! Crash safety: a `kill -9` can leave a partial last line in a topic's newest file (written but not
//! fsynced). Such a line was never confirmed upstream, so it will be delivered again; on open the
//! newest file of each topic is truncated back to its last complete line, so readers never see a torn
//! record. That repair is only safe with one writer, so the directory is locked ([`crate::dirlock`])
//! for as long as the segments are open.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dirlock::DirLock;
use crate::{write_json_line, Record, SinkError};

struct TopicFile {
    file: File,
    seq: u32,
    size: u64,
    buf: Vec<u8>,
    dirty: bool,
}

/// Per-topic JSON-lines files in one directory.
pub(super) struct Segments {
    dir: PathBuf,
    rotate_bytes: u64,
    topics: HashMap<Arc<str>, TopicFile>,
    dir_dirty: bool,
    _lock: DirLock,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments").field("dir", &self.dir).finish()
    }
}

fn io(dest: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::Io { dest: dest.display().to_string(), source }
}

/// File name of segment `seq` of `topic`. Topic names are kept, except path separators.
pub fn segment_name(topic: &str, seq: u32) -> String {
    let safe: String =
        topic.chars().map(|c| if c == '/' || c == '\\' || c == '\0' { '_' } else { c }).collect();
    format!("{safe}-{seq:06}.jsonl")
}

impl Segments {
    /// Open (creating the directory), check it is writable and lock it.
    pub(super) fn open(dir: impl AsRef<Path>, rotate_bytes: u64) -> Result<Segments, SinkError> {
        let dir = dir.as_ref().to_path_buf();
        let unusable = |reason: String| SinkError::Unusable { dest: dir.display().to_string(), reason };
        std::fs::create_dir_all(&dir).map_err(|e| {
            unusable(format!("cannot create the directory ({e}); choose a directory you can write to"))
        })?;
        let probe = dir.join(".tidemark-write-probe");
        File::create(&probe).and_then(|mut f| f.write_all(b"probe")).map_err(|e| {
            unusable(format!("cannot write there ({e}); fix its permissions or choose another directory"))
        })?;
        let _ = std::fs::remove_file(&probe);
        let lock = DirLock::acquire(&dir)?;
        Ok(Segments {
            dir,
            rotate_bytes: rotate_bytes.max(1024),
            topics: HashMap::new(),
            dir_dirty: false,
            _lock: lock,
        })
    }

    fn latest_seq(&self, topic: &str) -> Result<Option<u32>, SinkError> {
        let prefix = segment_name(topic, 0);
        let prefix = &prefix[..prefix.len() - "000000.jsonl".len()];
        let mut best = None;
        for e in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_suffix(".jsonl")) {
                if rest.len() == 6 {
                    if let Ok(n) = rest.parse::<u32>() {
                        best = best.max(Some(n));
                    }
                }
            }
        }
        Ok(best)
    }

    fn open_segment(&mut self, topic: &str, seq: u32, repair: bool) -> Result<TopicFile, SinkError> {
        let path = self.dir.join(segment_name(topic, seq));
        let mut file =
            OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io(&path))?;
        let mut size = file.metadata().map_err(io(&path))?.len();
        if repair && size > 0 {
            size = truncate_partial_line(&mut file, size).map_err(io(&path))?;
        }
        self.dir_dirty = true;
        Ok(TopicFile { file, seq, size, buf: Vec::with_capacity(256 * 1024), dirty: false })
    }

    fn topic_file(&mut self, topic: &Arc<str>) -> Result<&mut TopicFile, SinkError> {
        if !self.topics.contains_key(topic) {
            let tf = match self.latest_seq(topic)? {
                Some(seq) => self.open_segment(topic, seq, true)?,
                None => self.open_segment(topic, 1, false)?,
            };
            self.topics.insert(topic.clone(), tf);
        }
        Ok(self.topics.get_mut(topic).expect("inserted above"))
    }

    fn write_buffers(&mut self, sync: bool) -> Result<(), SinkError> {
        let dir = self.dir.clone();
        let names: Vec<Arc<str>> = self.topics.keys().cloned().collect();
        for topic in names {
            let rotate = self.rotate_bytes;
            let mut rotate_to = None;
            {
                let tf = self.topics.get_mut(&topic).expect("present");
                if !tf.buf.is_empty() {
                    tf.file.write_all(&tf.buf).map_err(io(&dir))?;
                    tf.size += tf.buf.len() as u64;
                    tf.buf.clear();
                    tf.dirty = true;
                }
                if sync && tf.dirty {
                    tf.file.sync_data().map_err(io(&dir))?;
                    tf.dirty = false;
                }
                if tf.size >= rotate {
                    if tf.dirty {
                        tf.file.sync_data().map_err(io(&dir))?;
                        tf.dirty = false;
                    }
                    rotate_to = Some(tf.seq + 1);
                }
            }
            if let Some(seq) = rotate_to {
                let tf = self.open_segment(&topic, seq, false)?;
                self.topics.insert(topic, tf);
            }
        }
        if sync && self.dir_dirty {
            File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&dir))?;
            self.dir_dirty = false;
        }
        Ok(())
    }
}

impl Segments {
    /// Write out `topic`'s buffer, make its file durable and continue in the next segment.
    fn rotate(&mut self, topic: &Arc<str>) -> Result<(), SinkError> {
        let dir = self.dir.clone();
        let tf = self.topics.get_mut(topic).expect("rotate: topic open");
        if !tf.buf.is_empty() {
            tf.file.write_all(&tf.buf).map_err(io(&dir))?;
            tf.size += tf.buf.len() as u64;
            tf.buf.clear();
            tf.dirty = true;
        }
        if tf.dirty {
            tf.file.sync_data().map_err(io(&dir))?;
        }
        let seq = tf.seq + 1;
        let next = self.open_segment(topic, seq, false)?;
        self.topics.insert(topic.clone(), next);
        Ok(())
    }
}

/// Cut a file back to just after its last newline; returns the new size.
fn truncate_partial_line(file: &mut File, size: u64) -> std::io::Result<u64> {
    let mut pos = size;
    let mut buf = vec![0u8; 64 * 1024];
    while pos > 0 {
        let n = (buf.len() as u64).min(pos);
        file.seek(SeekFrom::Start(pos - n))?;
        file.read_exact(&mut buf[..n as usize])?;
        if let Some(i) = buf[..n as usize].iter().rposition(|&b| b == b'\n') {
            let keep = pos - n + i as u64 + 1;
            if keep != size {
                file.set_len(keep)?;
                file.sync_data()?;
            }
            return Ok(keep);
        }
        pos -= n;
    }
    file.set_len(0)?;
    Ok(0)
}

impl Segments {
    /// Append records (buffered; written out in large pieces).
    pub(super) fn write(&mut self, records: &[Record]) -> Result<usize, SinkError> {
        let mut bytes = 0;
        let mut big = false;
        for r in records {
            let rotate = self.rotate_bytes;
            let tf = self.topic_file(&r.topic)?;
            let start = tf.buf.len();
            write_json_line(&mut tf.buf, r);
            bytes += tf.buf.len() - start;
            // Rotation is decided per record: a record that would take a non-empty file past the limit
            // starts the next file, so a file exceeds the limit only when one record alone does.
            if tf.size + tf.buf.len() as u64 > rotate && tf.size + start as u64 > 0 {
                let line = tf.buf.split_off(start);
                self.rotate(&r.topic)?;
                let tf = self.topics.get_mut(&r.topic).expect("rotate keeps the topic");
                tf.buf.extend_from_slice(&line);
            }
            let tf = self.topics.get_mut(&r.topic).expect("opened above");
            big |= tf.buf.len() >= 1 << 20 || tf.size + tf.buf.len() as u64 >= self.rotate_bytes;
        }
        if big {
            self.write_buffers(false)?;
        }
        Ok(bytes)
    }

    /// Write buffered records to the files, without fsync.
    pub(super) fn drain(&mut self) -> Result<(), SinkError> {
        self.write_buffers(false)
    }

    /// Write buffered records and make every file (and the directory) durable.
    pub(super) fn sync(&mut self) -> Result<(), SinkError> {
        self.write_buffers(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::tests::rec;

    #[test]
    fn writes_rotates_and_repairs_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segments::open(dir.path(), 1024).unwrap();
        for i in 0..100 {
            s.write(&[rec("p.public.t", &format!("{{\"n\":{i}}}"))]).unwrap();
        }
        s.sync().unwrap();
        let names = jsonl_files(dir.path());
        assert!(names.len() > 2, "{names:?}");
        let total: usize =
            names.iter().map(|n| std::fs::read_to_string(dir.path().join(n)).unwrap().lines().count()).sum();
        assert_eq!(total, 100);
        // Tear the newest file and reopen: the torn line disappears, appends continue.
        let last = dir.path().join(names.last().unwrap());
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(b"{\"topic\":\"p.public.t\",\"key\":{\"id\"").unwrap();
        drop(s);
        let mut s = Segments::open(dir.path(), 1024).unwrap();
        s.write(&[rec("p.public.t", "{\"n\":100}")]).unwrap();
        s.sync().unwrap();
        let text = std::fs::read_to_string(&last).unwrap();
        for l in text.lines() {
            serde_check(l);
        }
    }

    #[test]
    fn file_rotate_bytes_per_record() {
        // Batches far larger than the limit: rotation must still happen between records.
        let dir = tempfile::tempdir().unwrap();
        let limit = 2048u64;
        let mut s = Segments::open(dir.path(), limit).unwrap();
        let mut n = 0;
        for batch in 0..5 {
            let recs: Vec<Record> = (0..200)
                .map(|i| {
                    n += 1;
                    // Varying sizes, one record (batch 3) bigger than the whole limit.
                    let pad = if batch == 3 && i == 7 { 5000 } else { (i * 7) % 90 };
                    rec("p.public.t", &format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(pad)))
                })
                .collect();
            s.write(&recs).unwrap();
            if batch % 2 == 0 {
                s.sync().unwrap();
            }
        }
        s.sync().unwrap();
        let names = jsonl_files(dir.path());
        assert!(names.len() > 10, "{names:?}");
        let mut total = 0;
        let mut last_n = 0;
        for name in &names {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            total += lines.len();
            let len = text.len() as u64;
            // Never over the limit, except a file holding exactly one record larger than the limit.
            assert!(len <= limit || lines.len() == 1, "{name}: {len} bytes in {} records", lines.len());
            for l in lines {
                serde_check(l);
                let n: u64 = l.split("\"n\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
                assert_eq!(n, last_n + 1, "order kept across files");
                last_n = n;
            }
        }
        assert_eq!(total, 1000);
        // Files (other than the last) are filled close to the limit: rotation happens only when needed.
        let full = names[..names.len() - 1]
            .iter()
            .filter(|n| std::fs::metadata(dir.path().join(n)).unwrap().len() > limit / 2)
            .count();
        assert!(full >= names.len() - 2, "{names:?}");
    }

    /// The sink's data files in `dir`, sorted (the lock file and anything else left out).
    fn jsonl_files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        names.sort();
        names
    }

    fn serde_check(l: &str) {
        assert!(l.starts_with("{\"topic\":") && l.ends_with('}'), "torn line {l:?}");
    }
}
