//! pgoutput decoding on bytes captured from PostgreSQL 15 (see `fixtures/pg15_proto1.hex`, produced by
//! `TIDEMARK_DUMP_PGOUTPUT=1 cargo test -p tidemark-pgwire --test replication -- --nocapture proto1`),
//! plus property tests: every well-formed message round-trips, and no input makes the decoder panic.

use bytes::Bytes;
use proptest::prelude::*;
use tidemark_pgwire::pgoutput::{decode, encode::encode, PgOutput, Relation, RelationColumn, TupleValue};
use tidemark_pgwire::Lsn;

fn fixture() -> Vec<Bytes> {
    include_str!("fixtures/pg15_proto1.hex")
        .lines()
        .map(|l| {
            Bytes::from(
                (0..l.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

#[test]
fn captured_transaction_decodes_and_reencodes_identically() {
    let msgs = fixture();
    assert_eq!(msgs.len(), 14);
    for m in &msgs {
        let d = decode(m.clone(), false).unwrap();
        assert_eq!(&encode(&d), m, "re-encoding {d:?}");
    }
    match decode(msgs[0].clone(), false).unwrap() {
        PgOutput::Message { transactional: false, prefix, content, .. } => {
            assert_eq!(prefix, "pfx");
            assert_eq!(&content[..], b"hello");
        }
        o => panic!("{o:?}"),
    }
    match decode(msgs[1].clone(), false).unwrap() {
        PgOutput::Begin { xid, .. } => assert!(xid > 0),
        o => panic!("{o:?}"),
    }
    match decode(msgs[2].clone(), false).unwrap() {
        PgOutput::Relation(Relation { namespace, name, replica_identity, columns, .. }) => {
            assert_eq!((namespace.as_str(), name.as_str(), replica_identity), ("public", "t", b'd'));
            let cols: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.flags, c.type_oid)).collect();
            assert_eq!(cols, vec![("id", 1, 23), ("v", 0, 25), ("big", 0, 25)]);
        }
        o => panic!("{o:?}"),
    }
    match decode(msgs[3].clone(), false).unwrap() {
        PgOutput::Insert { new, .. } => {
            assert_eq!(new[0], TupleValue::Text(Bytes::from_static(b"1")));
            assert!(matches!(&new[2], TupleValue::Text(b) if b.len() == 10000));
        }
        o => panic!("{o:?}"),
    }
    match decode(msgs[4].clone(), false).unwrap() {
        PgOutput::Update { old: None, new, .. } => assert_eq!(new[2], TupleValue::UnchangedToast),
        o => panic!("{o:?}"),
    }
    match decode(msgs[12].clone(), false).unwrap() {
        PgOutput::Truncate { relids, options, .. } => {
            assert_eq!(relids.len(), 1);
            assert_eq!(options, 0);
        }
        o => panic!("{o:?}"),
    }
    match decode(msgs[13].clone(), false).unwrap() {
        PgOutput::Commit { commit_lsn, end_lsn, .. } => assert!(end_lsn > commit_lsn),
        o => panic!("{o:?}"),
    }
}

#[test]
fn truncated_messages_are_errors_not_panics() {
    for m in fixture() {
        for cut in 0..m.len().min(300) {
            let _ = decode(m.slice(..cut), false);
            let _ = decode(m.slice(..cut), true);
        }
    }
    assert!(decode(Bytes::from_static(b"Z"), false).is_err());
    assert!(decode(Bytes::new(), false).is_err());
}

fn arb_tuple() -> impl Strategy<Value = Vec<TupleValue>> {
    prop::collection::vec(
        prop_oneof![
            Just(TupleValue::Null),
            Just(TupleValue::UnchangedToast),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| TupleValue::Text(v.into())),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(|v| TupleValue::Binary(v.into())),
        ],
        0..12,
    )
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_ \"é.]{0,20}"
}

fn arb_message(in_stream: bool) -> impl Strategy<Value = PgOutput> {
    let xid = if in_stream { any::<u32>().prop_map(Some).boxed() } else { Just(None).boxed() };
    prop_oneof![
        (any::<u64>(), any::<i64>(), any::<u32>()).prop_map(|(final_lsn, commit_ts, xid)| PgOutput::Begin {
            final_lsn: Lsn(final_lsn),
            commit_ts,
            xid
        }),
        (any::<u64>(), any::<u64>(), any::<i64>()).prop_map(|(commit_lsn, end_lsn, commit_ts)| {
            PgOutput::Commit { flags: 0, commit_lsn: Lsn(commit_lsn), end_lsn: Lsn(end_lsn), commit_ts }
        }),
        (any::<u64>(), arb_name()).prop_map(|(lsn, name)| PgOutput::Origin { lsn: Lsn(lsn), name }),
        (
            xid.clone(),
            any::<u32>(),
            arb_name(),
            arb_name(),
            prop::sample::select(vec![b'd', b'n', b'f', b'i']),
            prop::collection::vec((0u8..2, arb_name(), any::<u32>(), any::<i32>()), 0..10)
        )
            .prop_map(|(xid, oid, namespace, name, replica_identity, cols)| PgOutput::Relation(
                Relation {
                    xid,
                    oid,
                    namespace,
                    name,
                    replica_identity,
                    columns: cols
                        .into_iter()
                        .map(|(flags, name, type_oid, type_modifier)| RelationColumn {
                            flags,
                            name,
                            type_oid,
                            type_modifier
                        })
                        .collect(),
                }
            )),
        (xid.clone(), any::<u32>(), arb_name(), arb_name())
            .prop_map(|(xid, oid, namespace, name)| PgOutput::Type { xid, oid, namespace, name }),
        (xid.clone(), any::<u32>(), arb_tuple()).prop_map(|(xid, relid, new)| PgOutput::Insert {
            xid,
            relid,
            new
        }),
        (
            xid.clone(),
            any::<u32>(),
            prop::option::of((prop::sample::select(vec![b'K', b'O']), arb_tuple())),
            arb_tuple()
        )
            .prop_map(|(xid, relid, old, new)| PgOutput::Update { xid, relid, old, new }),
        (xid.clone(), any::<u32>(), prop::sample::select(vec![b'K', b'O']), arb_tuple())
            .prop_map(|(xid, relid, kind, old)| PgOutput::Delete { xid, relid, kind, old }),
        (xid.clone(), any::<u8>(), prop::collection::vec(any::<u32>(), 0..5))
            .prop_map(|(xid, options, relids)| PgOutput::Truncate { xid, options, relids }),
        (xid, any::<bool>(), any::<u64>(), arb_name(), prop::collection::vec(any::<u8>(), 0..50)).prop_map(
            |(xid, transactional, lsn, prefix, c)| PgOutput::Message {
                xid,
                transactional,
                lsn: Lsn(lsn),
                prefix,
                content: c.into()
            }
        ),
        (any::<u32>(), any::<bool>())
            .prop_map(|(xid, first_segment)| PgOutput::StreamStart { xid, first_segment }),
        Just(PgOutput::StreamStop),
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<i64>()).prop_map(
            |(xid, commit_lsn, end_lsn, commit_ts)| PgOutput::StreamCommit {
                xid,
                flags: 0,
                commit_lsn: Lsn(commit_lsn),
                end_lsn: Lsn(end_lsn),
                commit_ts
            }
        ),
        (any::<u32>(), any::<u32>()).prop_map(|(xid, subxid)| PgOutput::StreamAbort { xid, subxid }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip_outside_stream(m in arb_message(false)) {
        prop_assert_eq!(decode(encode(&m), false).unwrap(), m);
    }

    #[test]
    fn round_trip_inside_stream(m in arb_message(true)) {
        prop_assert_eq!(decode(encode(&m), true).unwrap(), m);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200), in_stream in any::<bool>()) {
        let _ = decode(Bytes::from(data), in_stream);
    }
}
