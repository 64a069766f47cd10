//! An exclusive lock on a sink directory, so two processes never write the same files.
//!
//! Why: two `tidemark` processes pointed at one `file:` directory (a second instance started by
//! mistake, a restart while the old one still drains) would append to the same segment files, tear
//! each other's lines and repair them away on open — losing records that both believe are durable.
//!
//! Invariants:
//! - the lock is an `flock(LOCK_EX)` on `<dir>/.tidemark.lock`, taken without waiting, and held for as
//!   long as the [`DirLock`] lives (the sink keeps it for its whole life); the kernel releases it when
//!   the process dies, however it dies, so a crash never leaves a stale lock behind;
//! - the holder writes its PID into the file, so the process refused can name it;
//! - the file itself is never removed (removing it would let a third process lock a new inode while
//!   the second still holds the old one).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use crate::SinkError;

/// Name of the lock file inside a locked directory.
pub const LOCK_FILE: &str = ".tidemark.lock";

/// A held directory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Lock `dir` (which must exist) or explain who holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, SinkError> {
        let path = dir.join(LOCK_FILE);
        let unusable = |reason: String| SinkError::Unusable { dest: dir.display().to_string(), reason };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(
                |e| {
                    unusable(format!(
                        "cannot open the lock file {} ({e}); fix the directory's permissions",
                        path.display()
                    ))
                },
            )?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("another process (PID {pid})"),
                };
                return Err(unusable(format!(
                    "{holder} is already writing to this directory (it holds {}). Two writers would tear \
                     each other's files. Fix: stop the other tidemark, or give this one its own directory",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(unusable(format!(
                    "cannot lock {} ({e}); use a local file system that supports flock",
                    path.display()
                )))
            }
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .map_err(|e| unusable(format!("cannot write the lock file {} ({e})", path.display())))?;
        Ok(DirLock { _file: file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder_and_is_free_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file description, so a second open in this process
        // conflicts exactly as another process would.
        let e = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
        assert!(e.contains(&format!("PID {}", std::process::id())), "{e}");
        drop(first);
        let again = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(again.path()).unwrap(), format!("{}\n", std::process::id()));
    }
}
