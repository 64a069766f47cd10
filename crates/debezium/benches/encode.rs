//! Encoder cost per event over a wide mixed-type row (24 columns: integers, floats, numerics,
//! text, temporal types, json, uuid, bytea, arrays), schemas on and off.
//!
//!     cargo bench -p tidemark-debezium --bench encode
//!
//! Prints ns/event; the README's Performance section quotes it.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tidemark_debezium::{Encoder, EncoderConfig, TablePlan, TypeRegistry};
use tidemark_model::{
    ChangeEvent, ChangeKind, Column, Datum, Lsn, ReplicaIdentity, SourceInfo, TableId, TableSchema,
};

fn col(name: &str, oid: u32, typmod: i32, nullable: bool) -> Column {
    Column { name: name.into(), type_oid: oid, type_modifier: typmod, is_key: false, nullable, default: None }
}

fn main() {
    let cols = vec![
        (col("id", 20, -1, false), "123456789"),
        (col("i2", 21, -1, true), "12"),
        (col("i4", 23, -1, true), "-12345"),
        (col("f4", 700, -1, true), "3.3"),
        (col("f8", 701, -1, true), "4.44"),
        (col("n", 1700, -1, true), "10.10"),
        (col("n102", 1700, (10 << 16 | 2) + 4, true), "1234.11"),
        (col("b", 16, -1, true), "t"),
        (col("vc", 1043, 259, true), "a varchar value"),
        (col("t", 25, -1, true), "some longer text with \"quotes\" and unicode ž"),
        (col("d", 1082, -1, true), "2024-01-15"),
        (col("tm", 1083, -1, true), "13:51:30.123456"),
        (col("ts", 1114, -1, true), "2024-01-15 10:30:00.123456"),
        (col("tstz", 1184, -1, true), "2024-01-15 08:30:00.123456+00"),
        (col("iv", 1186, -1, true), "1 year 2 mons 3 days 04:05:06.78"),
        (col("u", 2950, -1, true), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (col("jb", 3802, -1, true), "{\"bar\": \"baz\", \"n\": [1, 2, 3]}"),
        (col("by", 17, -1, true), "\\x0102030405060708090a"),
        (col("ai", 1007, -1, true), "{1,2,3,4}"),
        (col("at", 1009, -1, true), "{a,\"b c\",NULL}"),
        (col("inet", 869, -1, true), "192.168.1.1"),
        (col("email", 1043, -1, false), "user12345@example.com"),
        (col("amount", 1700, (12 << 16 | 4) + 4, true), "-98765.4321"),
        (col("note", 25, -1, true), ""),
    ];
    let mut schema_cols: Vec<Column> = cols.iter().map(|(c, _)| c.clone()).collect();
    schema_cols[0].is_key = true;
    let table = Arc::new(TableSchema {
        oid: 1,
        id: TableId::new("public", "wide"),
        replica_identity: ReplicaIdentity::Default,
        columns: schema_cols,
        primary_key: vec![0],
    });
    let row: Vec<Datum> = cols.iter().map(|(_, v)| Datum::Text(Bytes::from_static(v.as_bytes()))).collect();
    let ev = ChangeEvent {
        table: table.clone(),
        kind: ChangeKind::Insert,
        before: None,
        after: Some(row),
        source: SourceInfo {
            ts_us: 1_705_314_600_123_456,
            tx_id: Some(748),
            lsn: Some(Lsn(27_564_720)),
            last_commit_lsn: Some(Lsn(27_564_000)),
            snapshot: None,
            origin: None,
        },
        tx: None,
    };
    for schemas in [false, true] {
        let cfg = EncoderConfig {
            key_schemas: schemas,
            value_schemas: schemas,
            database: "bench".into(),
            ..Default::default()
        };
        let plan = TablePlan::build(table.clone(), &TypeRegistry::default(), &cfg).unwrap();
        let enc = Encoder::new(cfg);
        let mut out = Vec::with_capacity(4);
        let n = 300_000;
        // warm-up
        for _ in 0..20_000 {
            out.clear();
            enc.encode_change(&plan, &ev, 1, &mut out).unwrap();
        }
        let t = Instant::now();
        let mut bytes = 0usize;
        for _ in 0..n {
            out.clear();
            enc.encode_change(&plan, &ev, 1_705_314_600_200_000, &mut out).unwrap();
            bytes += out[0].value.as_ref().map_or(0, |v| v.len());
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "encode wide row (24 columns), schemas {:<3}: {:>6.0} ns/event  ({:.0}k events/s/core, {} bytes/value)",
            if schemas { "on" } else { "off" },
            ns,
            1e6 / ns,
            bytes / n
        );
    }
}
