-- Extension-type changes the real Debezium connector stops on (extensions_zoo.sql has the rest):
-- a sparsevec key whose dimensions exceed a Java short; an unchanged TOASTed value in a NOT NULL
-- geography or vector column (Debezium cannot convert its placeholder and then refuses null in the
-- required field); a DEFAULT-identity delete from a table with a NOT NULL sparsevec column (its
-- fallback value is not a struct). Under event.processing.failure.handling.mode=warn/skip each of
-- these changes is left out and the rest delivered.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA ext;
CREATE EXTENSION IF NOT EXISTS vector SCHEMA ext;
CREATE TABLE ok_rows (id int PRIMARY KEY);
CREATE TABLE svec_big_key (s ext.sparsevec PRIMARY KEY, n int);
CREATE TABLE toast_nn (id int PRIMARY KEY, n int, gg geography NOT NULL, v ext.vector NOT NULL);
ALTER TABLE toast_nn ALTER COLUMN gg SET STORAGE EXTERNAL;
ALTER TABLE toast_nn ALTER COLUMN v SET STORAGE EXTERNAL;
CREATE TABLE svec_nn (id int PRIMARY KEY, s ext.sparsevec NOT NULL);
CREATE TABLE golden_end (id int PRIMARY KEY);
CREATE PUBLICATION golden_pub FOR TABLE ok_rows, svec_big_key, toast_nn, svec_nn, golden_end;
