-- Workload for edge_fail_zoo.sql: good rows, rows Debezium fails on, good rows after them.
INSERT INTO edge_fail VALUES (1, 1);
INSERT INTO edge_fail VALUES ('NaN', 2);
INSERT INTO edge_fail VALUES ('Infinity', 3);
INSERT INTO edge_fail VALUES (2, 4);
INSERT INTO edge_fail_ttz VALUES (1, '12:00:00+01');
INSERT INTO edge_fail_ttz VALUES (2, '23:59:59.999999+15:59:59');
INSERT INTO edge_fail_ttz VALUES (3, '12:00:00-15:59');
INSERT INTO edge_fail_iv VALUES (1, '2147483647:00:00');
INSERT INTO edge_fail_iv VALUES (2, '178956970 years 7 mons 2147483647 days 2562047788:00:54.775807');
INSERT INTO edge_fail_iv VALUES (3, '-1 days');
INSERT INTO golden_end VALUES (1);
