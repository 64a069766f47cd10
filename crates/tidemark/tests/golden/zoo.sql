-- Type zoo and edge-case tables shared by the Debezium golden fixtures (generate.py) and the
-- conformance test (tests/debezium_golden.rs). Deterministic: no now(), no random().
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);

CREATE TABLE zoo (
  id serial PRIMARY KEY,
  i2 smallint, i4 integer NOT NULL DEFAULT 42, i8 bigint, oid_c oid,
  f4 real, f8 double precision,
  n numeric, n102 numeric(10,2), n50 numeric(5,0),
  m money,
  b boolean DEFAULT true,
  c char(3), vc varchar(20) DEFAULT 'dflt', t text, nm name, ci citext,
  by bytea,
  bt1 bit(1), bt8 bit(8), vb varbit(16),
  d date, tm time, tm3 time(3), ttz timetz, ts timestamp, ts3 timestamp(3), ts0 timestamp(0),
  tstz timestamptz, tstz3 timestamptz(3),
  iv interval,
  u uuid, j json, jb jsonb, x xml,
  inet_c inet, cidr_c cidr, mac macaddr, mac8 macaddr8,
  e mood, dom posint,
  ai int[], at text[], an numeric[], ad date[], a2 int[][], au uuid[],
  h hstore, lt ltree, pt point,
  r4 int4range, rn numrange, rts tsrange, rtstz tstzrange, rd daterange, r8 int8range,
  tv tsvector
);

-- DEFAULT identity, a TOASTed column and a NOT NULL column without default.
CREATE TABLE toasty (id int PRIMARY KEY, n int NOT NULL, note text NOT NULL, big text, bin bytea);
ALTER TABLE toasty ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE toasty ALTER COLUMN bin SET STORAGE EXTERNAL;

-- FULL identity: before is the whole row, TOAST copied from the old tuple.
CREATE TABLE full_t (id int PRIMARY KEY, n int, big text);
ALTER TABLE full_t REPLICA IDENTITY FULL;
ALTER TABLE full_t ALTER COLUMN big SET STORAGE EXTERNAL;

-- Keyless table with FULL identity.
CREATE TABLE nokey (a int, b text);
ALTER TABLE nokey REPLICA IDENTITY FULL;

-- Composite text key, key changes.
CREATE TABLE ck (region text, code varchar(8), qty int, PRIMARY KEY (region, code));

-- Partitioned table published via its root.
CREATE TABLE part (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE part_eu PARTITION OF part FOR VALUES IN ('eu');
CREATE TABLE part_us PARTITION OF part FOR VALUES IN ('us');

-- Odd identifiers.
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed.Case" ("Key Col" int PRIMARY KEY, "Value Col" text);

-- End marker: the generator stops when it sees this table's insert.
CREATE TABLE golden_end (id int PRIMARY KEY);

CREATE PUBLICATION golden_pub FOR TABLE zoo, toasty, full_t, nokey, ck, part, "Odd Schema"."Mixed.Case", golden_end
  WITH (publish_via_partition_root = true);
