//! The README's first Quick start command: `tidemark demo` runs the whole story (stream, lose the
//! slot, recover the gap with diff) on its own throwaway PostgreSQL and leaves the events on disk.

mod common;
use common::*;

#[test]
fn demo_runs_the_whole_story() {
    let dir = tempdir();
    let out_dir = dir.path().join("demo");
    let out = std::process::Command::new(bin())
        .args(["demo", "--users", "100", "--dir"])
        .arg(&out_dir)
        .env("TIDEMARK_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Every change is now in"), "{stdout}");
    let evs = read_events(&out_dir);
    let users = topic(&evs, "demo.public.users");
    assert_eq!(users.iter().filter(|e| !e["value"].is_null() && payload(e)["op"] == "c").count(), 100);
    // The gap (users with id % 7 = 0 updated while no slot existed) arrives from the diff.
    let from_diff =
        users.iter().filter(|e| !e["value"].is_null() && payload(e)["source"]["lsn"].is_null()).count();
    assert_eq!(from_diff, 14);
    // A second run reuses the folder it wrote.
    let again = std::process::Command::new(bin())
        .args(["demo", "--users", "10", "--dir"])
        .arg(&out_dir)
        .env("TIDEMARK_LOG", "warn")
        .output()
        .unwrap();
    assert!(again.status.success());
}
