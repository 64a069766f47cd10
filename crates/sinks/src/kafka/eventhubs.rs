//! Azure Event Hubs through its Kafka endpoint: a namespace connection string
//! (`Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=hub]`)
//! becomes Kafka settings — `NS.servicebus.windows.net:9093`, SASL_SSL, PLAIN, user `$ConnectionString`,
//! password the connection string — plus Microsoft's recommended client settings for Event Hubs.
//!
//! Layouts: with `EntityPath` every record goes to that one event hub, with the table in headers;
//! without it each table gets its own event hub (`<prefix>.<schema>.<table>`). The 1 MB event limit is
//! enforced before sending, per the oversize policy. The connection string never appears in `Debug`,
//! `describe` or error messages.

use super::{KafkaOptions, TopicRouting};
use crate::SinkError;

/// Parsed connection string.
#[derive(Clone)]
pub struct ConnectionString {
    /// Namespace host, e.g. `myns.servicebus.windows.net`.
    pub host: String,
    /// `SharedAccessKeyName`.
    pub key_name: String,
    /// `EntityPath` (a single event hub), if present.
    pub entity_path: Option<String>,
    raw: String,
}

impl std::fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host", &self.host)
            .field("key_name", &self.key_name)
            .field("entity_path", &self.entity_path)
            .finish_non_exhaustive()
    }
}

fn bad(reason: &str) -> SinkError {
    SinkError::Config {
        uri: "eventhubs".into(),
        reason: format!(
            "{reason}; expected Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=<name>;\
             SharedAccessKey=<key>[;EntityPath=<hub>] in eventhubs.connection.string or \
             TIDEMARK_EVENTHUBS_CONNECTION_STRING"
        ),
    }
}

impl ConnectionString {
    /// Parse; the error never echoes the string (it holds a secret).
    pub fn parse(s: &str) -> Result<ConnectionString, SinkError> {
        let s = s.trim();
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        let mut entity = None;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| bad("a part has no '='"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(v.trim().to_string()),
                "sharedaccesskeyname" => key_name = Some(v.trim().to_string()),
                "sharedaccesskey" => key = Some(v.trim().to_string()),
                "entitypath" => entity = Some(v.trim().to_string()).filter(|e| !e.is_empty()),
                _ => {}
            }
        }
        let endpoint = endpoint.ok_or_else(|| bad("no Endpoint"))?;
        let host = endpoint
            .strip_prefix("sb://")
            .ok_or_else(|| bad("Endpoint must start with sb://"))?
            .trim_end_matches('/')
            .to_string();
        if host.is_empty() {
            return Err(bad("Endpoint has no namespace host"));
        }
        let key_name = key_name.ok_or_else(|| bad("no SharedAccessKeyName"))?;
        if key.as_deref().is_none_or(str::is_empty) {
            return Err(bad("no SharedAccessKey"));
        }
        Ok(ConnectionString { host, key_name, entity_path: entity, raw: s.to_string() })
    }

    /// Kafka settings for this namespace. `single` forces the one-hub layout (default: when the string
    /// names an EntityPath).
    pub fn kafka_options(&self, base: KafkaOptions) -> KafkaOptions {
        let mut o = base;
        o.brokers = format!("{}:9093", self.host);
        o.security = vec![
            ("security.protocol".into(), "SASL_SSL".into()),
            ("sasl.mechanisms".into(), "PLAIN".into()),
            ("sasl.username".into(), "$ConnectionString".into()),
            ("sasl.password".into(), self.raw.clone()),
            // Microsoft's recommendations for Kafka clients on Event Hubs.
            ("socket.keepalive.enable".into(), "true".into()),
            ("metadata.max.age.ms".into(), "180000".into()),
            ("request.timeout.ms".into(), "60000".into()),
            ("connections.max.idle.ms".into(), "180000".into()),
        ];
        if let Some(hub) = &self.entity_path {
            o.routing = TopicRouting::Single(hub.clone());
            o.table_headers = true;
        }
        // Event Hubs limits events to 1 MB (Standard tier).
        o.max_message_bytes = o.max_message_bytes.min(1_000_000);
        // Event hubs are created in the portal/ARM, not through the Kafka admin API.
        o.create_topics = false;
        o.label = match &self.entity_path {
            Some(h) => format!("eventhubs:{}/{h}", self.host),
            None => format!("eventhubs:{}", self.host),
        };
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: &str = "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=s3cr3tKey=;EntityPath=pg-cdc";

    #[test]
    fn translates_to_kafka_endpoint_settings() {
        let c = ConnectionString::parse(CS).unwrap();
        assert_eq!(c.host, "myns.servicebus.windows.net");
        assert_eq!(c.entity_path.as_deref(), Some("pg-cdc"));
        let o = c.kafka_options(KafkaOptions::default());
        assert_eq!(o.brokers, "myns.servicebus.windows.net:9093");
        let get = |k: &str| o.security.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        assert_eq!(get("security.protocol").as_deref(), Some("SASL_SSL"));
        assert_eq!(get("sasl.mechanisms").as_deref(), Some("PLAIN"));
        assert_eq!(get("sasl.username").as_deref(), Some("$ConnectionString"));
        assert_eq!(get("sasl.password").as_deref(), Some(CS));
        assert!(matches!(o.routing, TopicRouting::Single(ref h) if h == "pg-cdc"));
        assert!(o.table_headers && !o.create_topics);
        assert!(o.max_message_bytes <= 1_000_000);
        // Secrets stay out of everything printable.
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!o.label.contains("s3cr3t"));
        assert!(!format!("{o:?}").contains("s3cr3t"));
    }

    #[test]
    fn per_table_layout_without_entity_path_and_clear_errors() {
        let c = ConnectionString::parse(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
        )
        .unwrap();
        let o = c.kafka_options(KafkaOptions::default());
        assert!(matches!(o.routing, TopicRouting::PerTable));
        for bad in [
            "",
            "Endpoint=http://x;SharedAccessKeyName=k;SharedAccessKey=v",
            "Endpoint=sb://x/;SharedAccessKey=v",
            "Endpoint=sb://x/;SharedAccessKeyName=k",
        ] {
            let e = ConnectionString::parse(bad).unwrap_err().to_string();
            assert!(e.contains("Endpoint=sb://<namespace>"), "{e}");
        }
        let e =
            ConnectionString::parse("Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=topsecret;Bogus")
                .unwrap_err()
                .to_string();
        assert!(!e.contains("topsecret"), "{e}");
    }
}
