-- Extension types (issue 9, last item): PostGIS geometry/geography and pgvector vector/halfvec/sparsevec,
-- replayed through the real Debezium connector (generate.py --set extensions) and through tidemark
-- (tests/debezium_extensions_golden.rs). Needs both extensions installed (.ci/run installs them).
-- pgvector lives in its own schema: both Debezium and tidemark recognise the types by name, wherever
-- the extension was created. Values Debezium stops on live in extensions_fail_zoo.sql.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA ext;
CREATE EXTENSION IF NOT EXISTS vector SCHEMA ext;

-- Every geometry kind, with and without SRID, Z/M, EMPTY; geography in the same rows.
CREATE TABLE geo_any (id int PRIMARY KEY, g geometry, gg geography);

-- Type modifiers, arrays (PostGIS delimits array elements with ':'), NOT NULL and defaults.
CREATE TABLE geo_typed (
  id int PRIMARY KEY,
  gp geometry(Point), gp4326 geometry(Point,4326), gz geometry(PointZ), gm geometry(PointM), gzm geometry(PointZM,3857),
  gl geometry(LineString,4326), gpoly geometry(Polygon), ggp geography(Point,4326), ggl geography(LineString),
  ag geometry[], agg geography[], ag2 geometry[][],
  gnn geometry NOT NULL, ggnn geography NOT NULL, gd geometry DEFAULT 'SRID=4326;POINT(0 0)', ggd geography DEFAULT 'POINT(0 0)'
);

-- Geometry and geography as primary keys (key changes, deletes).
CREATE TABLE geo_key (g geometry PRIMARY KEY, v int);
CREATE TABLE geog_key (g geography PRIMARY KEY, v int);

-- REPLICA IDENTITY FULL, no key.
CREATE TABLE geo_full (id int, g geometry, gg geography);
ALTER TABLE geo_full REPLICA IDENTITY FULL;

CREATE TABLE vec (
  id int PRIMARY KEY,
  v ext.vector, v3 ext.vector(3), h ext.halfvec, h3 ext.halfvec(3), s ext.sparsevec, s5 ext.sparsevec(5),
  vnn ext.vector NOT NULL, hnn ext.halfvec NOT NULL, vd ext.vector DEFAULT '[1,2,3]'
);

-- Vectors as primary keys.
CREATE TABLE vec_key (v ext.vector PRIMARY KEY, n int);
CREATE TABLE hvec_key (h ext.halfvec PRIMARY KEY, n int);
CREATE TABLE svec_key (s ext.sparsevec PRIMARY KEY, n int);

-- Arrays of vectors: Debezium writes null for an array with a NULL element or more than one dimension,
-- and for any non-empty sparsevec array.
CREATE TABLE vec_arr (id int PRIMARY KEY, av ext.vector[], ah ext.halfvec[], asv ext.sparsevec[], av2 ext.vector[][]);

-- Sparse vectors whose entry order comes from Java's HashMap (bucket collisions, tree bins, resizes),
-- and indexes or dimensions beyond a Java short (Debezium writes null).
CREATE TABLE svec_order (id int PRIMARY KEY, s ext.sparsevec);

-- Unchanged TOAST values under DEFAULT identity: Debezium cannot convert its placeholder to these
-- types and writes null (nullable columns, and geometry, whose schema is always optional).
CREATE TABLE ext_toast (id int PRIMARY KEY, n int, g geometry, gg geography, v ext.vector, h ext.halfvec, s ext.sparsevec,
  gnn geometry NOT NULL);
ALTER TABLE ext_toast ALTER COLUMN g SET STORAGE EXTERNAL;
ALTER TABLE ext_toast ALTER COLUMN gg SET STORAGE EXTERNAL;
ALTER TABLE ext_toast ALTER COLUMN v SET STORAGE EXTERNAL;
ALTER TABLE ext_toast ALTER COLUMN h SET STORAGE EXTERNAL;
ALTER TABLE ext_toast ALTER COLUMN s SET STORAGE EXTERNAL;
ALTER TABLE ext_toast ALTER COLUMN gnn SET STORAGE EXTERNAL;

-- PostGIS types Debezium does not map: left out of key, value and schema (with
-- include.unknown.datatypes=true, bytes of their text).
CREATE TABLE ext_unmapped (id int PRIMARY KEY, b2 box2d, b3 box3d, n text);

CREATE TABLE golden_end (id int PRIMARY KEY);

CREATE PUBLICATION golden_pub FOR TABLE ext_unmapped, geo_any, geo_typed, geo_key, geog_key, geo_full, vec, vec_key, hvec_key, svec_key,
  vec_arr, svec_order, ext_toast, golden_end;
