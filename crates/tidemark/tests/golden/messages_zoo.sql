-- Logical-message events (op: m): pg_logical_emit_message, transactional and not, replayed through the
-- real Debezium connector (generate.py --set messages) and through tidemark (debezium_messages_golden.rs).
CREATE TABLE msg_t (id int PRIMARY KEY, v text);
CREATE TABLE golden_end (id int PRIMARY KEY);
CREATE PUBLICATION golden_pub FOR TABLE msg_t, golden_end;
