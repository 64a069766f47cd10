//! Records that are no row change: logical-decoding messages (`op: m`, on `<prefix>.message`) and
//! transaction BEGIN/END metadata (on `<prefix>.transaction`), with their fixed key and value schemas.

use tidemark_model::{Record, RecordKind, SourceInfo, TxInfo};

use super::Encoder;
use crate::json::{self, write_int, write_str};
use crate::plan::{source_schema, TX_BLOCK_SCHEMA};

impl Encoder {
    /// A key struct with one string field, wrapped in `{"schema":…,"payload":…}` when key schemas are on.
    fn string_key(&self, schema: &[u8], field: &[u8], value: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(schema.len() + value.len() + 32);
        if self.cfg.key_schemas {
            key.extend_from_slice(b"{\"schema\":");
            key.extend_from_slice(schema);
            key.extend_from_slice(b",\"payload\":");
        }
        key.extend_from_slice(b"{\"");
        key.extend_from_slice(field);
        key.extend_from_slice(b"\":");
        write_str(&mut key, value);
        key.push(b'}');
        if self.cfg.key_schemas {
            key.push(b'}');
        }
        key
    }

    /// A logical-decoding message event (`op: m`) on `<prefix>.message`. `tx` is the transaction block
    /// of a transactional message when transaction metadata is on (Debezium counts such a message as an
    /// event of its transaction); non-transactional messages have none.
    pub fn encode_message(
        &self,
        prefix: &str,
        content: &[u8],
        source: &SourceInfo,
        tx: Option<&TxInfo>,
        now_us: i64,
    ) -> Record {
        let key = self.string_key(
            b"{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":true,\"field\":\"prefix\"}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageKey\",\"version\":1}",
            b"prefix",
            prefix,
        );
        let mut v = Vec::new();
        let binary_schema = match self.cfg.binary {
            crate::BinaryMode::Bytes => "bytes",
            _ => "string",
        };
        if self.cfg.value_schemas {
            v.extend_from_slice(
                format!(
                    "{{\"schema\":{{\"type\":\"struct\",\"fields\":[{{\"type\":\"string\",\"optional\":false,\"field\":\"op\"}},{{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}},{},{},{{\"type\":\"struct\",\"fields\":[{{\"type\":\"string\",\"optional\":true,\"field\":\"prefix\"}},{{\"type\":\"{binary_schema}\",\"optional\":true,\"field\":\"content\"}}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Message\",\"version\":1,\"field\":\"message\"}}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.MessageValue\",\"version\":1}},\"payload\":",
                    source_schema(&self.cfg),
                    TX_BLOCK_SCHEMA
                )
                .as_bytes(),
            );
        }
        v.extend_from_slice(b"{\"op\":\"m\",\"ts_ms\":");
        write_int(&mut v, now_us.div_euclid(1000));
        v.extend_from_slice(b",\"source\":");
        self.write_source(&mut v, source, "", "");
        v.extend_from_slice(b",\"transaction\":");
        self.write_tx(&mut v, tx);
        v.extend_from_slice(b",\"message\":{\"prefix\":");
        write_str(&mut v, prefix);
        v.extend_from_slice(b",\"content\":");
        match self.cfg.binary {
            crate::BinaryMode::Bytes | crate::BinaryMode::Base64 => json::write_b64(&mut v, content),
            crate::BinaryMode::Base64UrlSafe => write_str(&mut v, &json::b64_string(content, true)),
            crate::BinaryMode::Hex => {
                write_str(&mut v, &content.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
        }
        v.extend_from_slice(b"}}");
        if self.cfg.value_schemas {
            v.push(b'}');
        }
        Record {
            topic: self.msg_topic.clone(),
            key: Some(key),
            value: Some(v),
            headers: Vec::new(),
            kind: RecordKind::Message,
            op: "m",
            origin: None,
        }
    }

    /// Transaction BEGIN (`counts` None) or END (`counts` = per-table event counts) on `<prefix>.transaction`.
    pub fn encode_transaction(&self, id: &str, ts_us: i64, counts: Option<&[(String, u64)]>) -> Record {
        let key = self.string_key(
            b"{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"}],\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataKey\",\"version\":1}",
            b"id",
            id,
        );
        let mut v = Vec::new();
        if self.cfg.value_schemas {
            v.extend_from_slice(b"{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"status\"},{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"data_collection\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"event_count\"}],\"optional\":true,\"name\":\"event.collection\",\"version\":1},\"optional\":true,\"field\":\"data_collections\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}],\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataValue\",\"version\":1},\"payload\":");
        }
        v.extend_from_slice(b"{\"status\":");
        write_str(&mut v, if counts.is_some() { "END" } else { "BEGIN" });
        v.extend_from_slice(b",\"id\":");
        write_str(&mut v, id);
        match counts {
            None => v.extend_from_slice(b",\"event_count\":null,\"data_collections\":null"),
            Some(c) => {
                v.extend_from_slice(b",\"event_count\":");
                write_int(&mut v, c.iter().map(|(_, n)| *n as i64).sum());
                v.extend_from_slice(b",\"data_collections\":[");
                for (i, (t, n)) in c.iter().enumerate() {
                    if i > 0 {
                        v.push(b',');
                    }
                    v.extend_from_slice(b"{\"data_collection\":");
                    write_str(&mut v, t);
                    v.extend_from_slice(b",\"event_count\":");
                    write_int(&mut v, *n as i64);
                    v.push(b'}');
                }
                v.push(b']');
            }
        }
        v.extend_from_slice(b",\"ts_ms\":");
        write_int(&mut v, ts_us.div_euclid(1000));
        v.push(b'}');
        if self.cfg.value_schemas {
            v.push(b'}');
        }
        Record {
            topic: self.tx_topic.clone(),
            key: Some(key),
            value: Some(v),
            headers: Vec::new(),
            kind: RecordKind::Transaction,
            op: "",
            origin: None,
        }
    }
}
