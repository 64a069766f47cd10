-- A transactional message beside a row change, in one transaction.
BEGIN;
INSERT INTO msg_t VALUES (1, 'a');
SELECT pg_logical_emit_message(true, 'app.audit', 'row 1 inserted');
COMMIT;
-- A non-transactional message (delivered at once, outside any transaction).
SELECT pg_logical_emit_message(false, 'app.ping', 'hello');
-- Binary and empty content, a unicode prefix.
SELECT pg_logical_emit_message(true, 'app.bin', '\x00ff10'::bytea);
SELECT pg_logical_emit_message(false, 'app.empty', '');
SELECT pg_logical_emit_message(true, 'préfixe.ünï', 'contenu ✓');
-- A message in a transaction that rolls back is not delivered (transactional) or is (non-transactional).
BEGIN;
SELECT pg_logical_emit_message(true, 'app.rolled_back', 'never');
SELECT pg_logical_emit_message(false, 'app.nontx_in_aborted', 'always');
ROLLBACK;
UPDATE msg_t SET v = 'b' WHERE id = 1;

INSERT INTO golden_end VALUES (1);
