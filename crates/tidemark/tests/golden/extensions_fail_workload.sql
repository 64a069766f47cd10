-- Workload for extensions_fail_zoo.sql: good rows, changes Debezium stops on, good rows after them.
INSERT INTO ok_rows VALUES (1);
INSERT INTO svec_big_key VALUES ('{1:1}/32767', 1);
INSERT INTO svec_big_key VALUES ('{1:1}/40000', 2);
INSERT INTO ok_rows VALUES (2);
INSERT INTO toast_nn VALUES (1, 1,
  (SELECT ST_MakeLine(ARRAY(SELECT ST_MakePoint(g / 10.0, g / 20.0) FROM generate_series(1, 500) g))::geography), '[1,2]');
UPDATE toast_nn SET n = 2 WHERE id = 1;
INSERT INTO toast_nn VALUES (2, 1, 'POINT(1 1)', (SELECT array_agg(g::real / 7)::ext.vector FROM generate_series(1, 1000) g));
UPDATE toast_nn SET n = 2 WHERE id = 2;
INSERT INTO ok_rows VALUES (3);
INSERT INTO svec_nn VALUES (1, '{1:1}/2');
DELETE FROM svec_nn WHERE id = 1;
INSERT INTO ok_rows VALUES (4);
INSERT INTO golden_end VALUES (1);
