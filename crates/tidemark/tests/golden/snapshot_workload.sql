-- After the snapshot: one streamed change per kind, then the end marker.
INSERT INTO s_b VALUES (11);
UPDATE s_a SET v = 'uno' WHERE id = 1;
DELETE FROM s_d WHERE k = 'q';
INSERT INTO golden_end VALUES (1);
