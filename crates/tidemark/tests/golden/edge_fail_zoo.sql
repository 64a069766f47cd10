-- Values the real Debezium connector fails on: numeric NaN/±Infinity in a key column under
-- decimal.handling.mode=precise, a timetz whose UTC offset has seconds (any mode) and an interval whose
-- hours do not fit a 32-bit int (the JDBC driver's PGInterval fails; any mode). Kept apart from
-- edge_zoo.sql so the failures cannot stop the rest of the zoo.
CREATE TABLE edge_fail (k numeric PRIMARY KEY, v int);
CREATE TABLE edge_fail_ttz (id int PRIMARY KEY, ttz timetz);
CREATE TABLE edge_fail_iv (id int PRIMARY KEY, iv interval);
CREATE TABLE golden_end (id int PRIMARY KEY);
CREATE PUBLICATION golden_pub FOR TABLE edge_fail, edge_fail_ttz, edge_fail_iv, golden_end;
