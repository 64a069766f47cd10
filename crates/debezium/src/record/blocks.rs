//! The `source` block (connector, topic prefix, times, database, schema, table, transaction id, LSN
//! and Debezium's `sequence` of last-commit and event LSNs) and the `transaction` block every event
//! carries.
//!
//! The constant head of the source block is serialized once in [`Encoder::new`]; only the per-event
//! fields are written here, in the order of the `source` schema [`crate::plan`] declares.

use tidemark_model::{SourceInfo, TxInfo};

use super::Encoder;
use crate::json::{write_int, write_str};

fn lsn_num(l: Option<tidemark_model::Lsn>) -> Option<u64> {
    l.map(|l| l.0)
}

/// One element of `source.sequence` inside its JSON string: `\"<lsn>\"` or `null`.
fn seq_part(out: &mut Vec<u8>, l: Option<u64>) {
    match l {
        Some(l) => {
            out.extend_from_slice(b"\\\"");
            out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes());
            out.extend_from_slice(b"\\\"");
        }
        None => out.extend_from_slice(b"null"),
    }
}

impl Encoder {
    pub(super) fn write_source(&self, out: &mut Vec<u8>, s: &SourceInfo, schema: &str, table: &str) {
        out.extend_from_slice(&self.source_head);
        write_int(out, s.ts_us.div_euclid(1000));
        out.extend_from_slice(b",\"snapshot\":");
        match s.snapshot {
            Some(v) => write_str(out, v),
            None if self.cfg.replace_null_with_default => out.extend_from_slice(b"\"false\""),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(&self.source_db);
        out.extend_from_slice(b",\"sequence\":");
        if s.lsn.is_some() || s.last_commit_lsn.is_some() {
            // The JSON string `["<last commit>","<lsn>"]`, its quotes escaped (written per event: no
            // formatting allocations).
            out.extend_from_slice(b"\"[");
            seq_part(out, lsn_num(s.last_commit_lsn));
            out.push(b',');
            seq_part(out, lsn_num(s.lsn));
            out.extend_from_slice(b"]\"");
        } else {
            out.extend_from_slice(b"null");
        }
        out.extend_from_slice(b",\"ts_us\":");
        write_int(out, s.ts_us);
        out.extend_from_slice(b",\"ts_ns\":");
        write_int(out, s.ts_us.saturating_mul(1000));
        out.extend_from_slice(b",\"schema\":");
        write_str(out, schema);
        out.extend_from_slice(b",\"table\":");
        write_str(out, table);
        out.extend_from_slice(b",\"txId\":");
        match s.tx_id {
            Some(x) => write_int(out, x as i64),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"lsn\":");
        match lsn_num(s.lsn) {
            Some(l) => write_int(out, l as i64),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"xmin\":null");
        if self.cfg.origin_fields {
            out.extend_from_slice(b",\"origin\":null,\"origin_lsn\":null");
        }
        out.push(b'}');
    }

    pub(super) fn write_tx(&self, out: &mut Vec<u8>, tx: Option<&TxInfo>) {
        match tx {
            Some(t) if self.cfg.transaction_metadata => {
                out.extend_from_slice(b"{\"id\":");
                write_str(out, &t.id);
                out.extend_from_slice(b",\"total_order\":");
                write_int(out, t.total_order as i64);
                out.extend_from_slice(b",\"data_collection_order\":");
                write_int(out, t.data_collection_order as i64);
                out.push(b'}');
            }
            _ => out.extend_from_slice(b"null"),
        }
    }
}
