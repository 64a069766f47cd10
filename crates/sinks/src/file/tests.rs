//! The async file sink: acknowledgements follow fsyncs, close releases the directory.

use super::*;
use crate::{Ack, RecordKind};

/// A change record for `topic` with value `v` (shared with the segment tests).
pub(super) fn rec(topic: &str, v: &str) -> Record {
    Record {
        topic: topic.into(),
        key: Some(b"{\"id\":1}".to_vec()),
        value: Some(v.as_bytes().to_vec()),
        headers: vec![],
        kind: RecordKind::Change,
        op: "c",
        origin: None,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tickets_are_acknowledged_only_after_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileSink::open(dir.path(), 1 << 20).unwrap();
    let (tx, mut rx) = AckSender::channel();
    s.attach(tx);
    s.send(1, vec![rec("t", "{\"n\":1}")]).await.unwrap();
    s.send(2, vec![rec("t", "{\"n\":2}")]).await.unwrap();
    s.drain().await.unwrap();
    // Written, not synced: nothing may be acknowledged (the thread has had time to act on Drain).
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err(), "acknowledged before an fsync");
    s.sync().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap() {
            Some(Ack::Durable(t)) => got.push(t),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, vec![1, 2]);
    s.close().await.unwrap();
    let text = std::fs::read_to_string(dir.path().join(segment_name("t", 1))).unwrap();
    assert_eq!(text.lines().count(), 2);
}

#[tokio::test]
async fn close_acknowledges_everything_and_releases_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileSink::open(dir.path(), 1 << 20).unwrap();
    let (tx, mut rx) = AckSender::channel();
    s.attach(tx);
    s.send(7, vec![rec("t", "{}")]).await.unwrap();
    assert!(FileSink::open(dir.path(), 1 << 20).is_err(), "a second writer must be refused while open");
    s.close().await.unwrap();
    assert!(matches!(rx.recv().await, Some(Ack::Durable(7))));
    drop(s);
    FileSink::open(dir.path(), 1 << 20).expect("the lock is released after close");
}

#[test]
fn unwritable_directory_is_a_clear_error() {
    let e = FileSink::open("/proc/tidemark-cannot-exist", 1024).unwrap_err().to_string();
    assert!(e.contains("not usable"), "{e}");
}
