-- Initial snapshot golden set: tables with rows before the connector starts (snapshot.mode=initial).
-- Table order, markers (first / true / first_in_data_collection / last_in_data_collection / last),
-- a one-row table, empty tables in the middle and at the end, a keyless table, a second schema.
CREATE TABLE s_a (id int PRIMARY KEY, v text, n numeric(10,2), ts timestamptz, flag boolean);
INSERT INTO s_a VALUES (1, 'one', 1.50, '2026-01-02 03:04:05.123456+00', true),
                       (2, NULL, NULL, NULL, NULL),
                       (3, 'three', -3.25, '1999-12-31 23:59:59+00', false);
CREATE TABLE s_b (id int PRIMARY KEY);
INSERT INTO s_b VALUES (10);
CREATE TABLE s_c (id int PRIMARY KEY);
CREATE TABLE s_d (k text, n int);
ALTER TABLE s_d REPLICA IDENTITY FULL;
INSERT INTO s_d VALUES ('p', 1), ('q', NULL);
CREATE SCHEMA other;
CREATE TABLE other.s_a (id bigint PRIMARY KEY, j jsonb);
INSERT INTO other.s_a VALUES (7, '{"a": [1, 2]}');
CREATE TABLE s_e (id int PRIMARY KEY);
CREATE TABLE golden_end (id int PRIMARY KEY);
CREATE PUBLICATION golden_pub FOR TABLE s_a, s_b, s_c, s_d, other.s_a, s_e, golden_end;
