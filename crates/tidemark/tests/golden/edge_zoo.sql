-- Edge-value zoo (issue 9 §1): every special value class that PostgreSQL can hold, replayed through the
-- real Debezium connector (generate.py --set edge) and through tidemark (tests/debezium_golden.rs,
-- edge_zoo_* tests). Values Debezium fails on live in edge_fail_zoo.sql so they cannot stop this run.
CREATE TABLE edge_num (
  id int PRIMARY KEY,
  n numeric, n102 numeric(10,2), nneg numeric(5,-2), an numeric[], an102 numeric(10,2)[],
  f4 real, f8 double precision, af4 real[], af8 float8[],
  m money
);

CREATE TABLE edge_time (
  id int PRIMARY KEY,
  d date, ts timestamp, ts3 timestamp(3), ts0 timestamp(0), tstz timestamptz, tstz3 timestamptz(3),
  tm time, tm3 time(3), ttz timetz, iv interval,
  ad date[], ats timestamp[], atstz timestamptz[]
);

CREATE TABLE edge_misc (
  id int PRIMARY KEY,
  ai int[], at text[], ai2 int[][], at3 text[][][],
  j json, jb jsonb,
  by bytea, vb varbit, bt bit(1),
  r4 int4range, rn numrange, rtstz tstzrange, rd daterange, r8 int8range, rts tsrange,
  mac8 macaddr8
);

-- Keys of special-valued types Debezium can encode (delete events carry them in the key).
CREATE TABLE edge_keys (d date, ts timestamp, f8 double precision, v int, PRIMARY KEY (d, ts, f8));

-- Unicode identifiers.
CREATE TABLE "ünïcødé_表" ("ключ" int PRIMARY KEY, "名前" text, "émoji_😀" int);

CREATE TABLE golden_end (id int PRIMARY KEY);

CREATE PUBLICATION golden_pub FOR TABLE edge_num, edge_time, edge_misc, edge_keys, "ünïcødé_表", golden_end;
