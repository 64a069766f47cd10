-- Workload for extensions_zoo.sql. Deterministic: no now(), no random().
INSERT INTO geo_any VALUES
 (1, 'POINT(1 2)', 'POINT(1 2)'),
 (2, 'SRID=4326;POINT(-71.06 42.36)', 'SRID=4326;POINT(-71.06 42.36)'),
 (3, 'POINT EMPTY', 'POINT EMPTY'),
 (4, 'LINESTRING(0 0,1 1,2 1)', 'LINESTRING(0 0,1 1,2 1)'),
 (5, 'SRID=3857;POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 2,1 1))', 'POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 2,1 1))'),
 (6, 'MULTIPOINT((0 0),(1 2))', 'MULTIPOINT((0 0),(1 2))'),
 (7, 'MULTILINESTRING((0 0,1 1),(2 2,3 3))', 'MULTILINESTRING((0 0,1 1),(2 2,3 3))'),
 (8, 'MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))', 'MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))'),
 (9, 'GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1),GEOMETRYCOLLECTION(POINT(2 2)))', 'GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))'),
 (10, 'GEOMETRYCOLLECTION EMPTY', 'GEOMETRYCOLLECTION EMPTY'),
 (11, 'POINT Z (1 2 3)', 'POINT Z (1 2 3)'),
 (12, 'POINT M (1 2 4)', 'POINT M (1 2 4)'),
 (13, 'SRID=4326;POINT ZM (1 2 3 4)', 'SRID=4326;POINT ZM (1 2 3 4)'),
 (14, 'LINESTRING EMPTY', 'SRID=4269;POINT(1 2)'),
 (15, 'CIRCULARSTRING(0 0,1 1,2 0)', 'LINESTRING Z (0 0 1,1 1 2)'),
 (16, 'TRIANGLE((0 0,0 1,1 1,0 0))', 'MULTIPOLYGON EMPTY'),
 (17, 'POLYHEDRALSURFACE(((0 0 0,0 1 0,1 1 0,0 0 0)))', NULL),
 (18, 'TIN(((0 0 0,0 0 1,0 1 0,0 0 0)))', NULL),
 (19, 'SRID=4326;MULTIPOLYGON EMPTY', NULL),
 (20, 'SRID=-1;POINT(1 1)', NULL),
 (21, 'SRID=999999;POINT(1e300 -1e-300)', 'POINT(-180 -90)'),
 (22, NULL, NULL);
UPDATE geo_any SET g = 'POINT(9 9)', gg = 'POINT(9 9)' WHERE id = 1;
UPDATE geo_any SET g = NULL WHERE id = 3;
DELETE FROM geo_any WHERE id = 2;

INSERT INTO geo_typed (id, gp, gp4326, gz, gm, gzm, gl, gpoly, ggp, ggl, ag, agg, ag2, gnn, ggnn) VALUES
 (1, 'POINT(1 2)', 'SRID=4326;POINT(1 2)', 'POINT Z (1 2 3)', 'POINT M (1 2 3)', 'SRID=3857;POINT ZM (1 2 3 4)',
  'SRID=4326;LINESTRING(0 0,1 1)', 'POLYGON((0 0,1 0,1 1,0 0))', 'POINT(1 2)', 'LINESTRING(0 0,1 1)',
  ARRAY['POINT(1 2)'::geometry, NULL, 'SRID=4326;LINESTRING(0 0,1 1)'::geometry], ARRAY['POINT(1 2)'::geography, NULL],
  ARRAY[['POINT(1 2)'::geometry], ['POINT(3 4)'::geometry]],
  'POINT(5 5)', 'POINT(5 5)');
INSERT INTO geo_typed (id, gnn, ggnn, ag, agg) VALUES (2, 'GEOMETRYCOLLECTION EMPTY', 'POINT EMPTY', '{}', '{}');
INSERT INTO geo_typed (id, gnn, ggnn, ag, agg, ag2) VALUES (3, 'POINT(0 0)', 'POINT(0 0)', '{NULL}', ARRAY['SRID=4269;POINT(1 2)'::geography], '[2:2][1:1]={{NULL}}');
UPDATE geo_typed SET gp = NULL, ag = NULL WHERE id = 1;
DELETE FROM geo_typed WHERE id = 1;

INSERT INTO geo_key VALUES ('POINT(1 1)', 1), ('SRID=4326;LINESTRING(0 0,1 1)', 2);
UPDATE geo_key SET v = 10 WHERE v = 1;
UPDATE geo_key SET g = 'POINT(2 2)' WHERE v = 10;
DELETE FROM geo_key WHERE v = 2;
INSERT INTO geog_key VALUES ('POINT(1 1)', 1);
UPDATE geog_key SET g = 'POINT(2 2)' WHERE v = 1;
DELETE FROM geog_key WHERE v = 1;

INSERT INTO geo_full VALUES (1, 'POINT(1 1)', 'POINT(1 1)');
UPDATE geo_full SET g = 'POINT(2 2)';
DELETE FROM geo_full;

INSERT INTO vec (id, v, v3, h, h3, s, s5, vnn, hnn) VALUES
 (1, '[1,2,3]', '[1.5,-2.5,0]', '[1,2.5,-0.1]', '[65504,-65504,6e-08]', '{1:1.5,3:2}/5', '{}/5', '[0.1]', '[0.1]'),
 (2, '[0.1,-0.5,1e-7,3.4028235e38,-0,1.17549435e-38,1.4e-45,100000000,0.001,1234567.9,-3.4028235e38,16777217,0.3]', NULL,
  '[0.001,1000,0.5,-0,6.1035156e-05,1e-07,0.33333334]', NULL,
  '{1:0.1,2:-3.4028235e38,32767:1e-45}/32767', '{5:-0}/5', '[1]', '[1]'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, '[2]', '[2]');
UPDATE vec SET v = '[4,5,6]', s = '{2:3.25}/5' WHERE id = 1;
DELETE FROM vec WHERE id = 1;

INSERT INTO vec_key VALUES ('[1,2,3]', 1);
UPDATE vec_key SET n = 2;
UPDATE vec_key SET v = '[3,2,1]';
DELETE FROM vec_key;
INSERT INTO hvec_key VALUES ('[1,2,3]', 1);
UPDATE hvec_key SET h = '[0.1]';
DELETE FROM hvec_key;
INSERT INTO svec_key VALUES ('{1:1,3:2}/3', 1);
UPDATE svec_key SET s = '{}/3';
DELETE FROM svec_key;

INSERT INTO vec_arr VALUES
 (1, '{"[1,2]","[3,4]"}', '{"[1,2]",NULL}', '{NULL}', '{{"[1]"},{"[2]"}}'),
 (2, '{}', '{}', '{}', '{}'),
 (3, '{NULL}', '{"[0.1]","[0.2,0.3]"}', '{"{1:1}/2"}', NULL),
 (4, '{"[1,2]",NULL}', NULL, NULL, '{"[5]"}');

INSERT INTO svec_order VALUES
 (1, '{1:1,17:2,33:3,49:4,65:5,81:6,97:7,113:8,129:9,145:10}/32767'),
 (2, (SELECT ('{' || string_agg((g * 64 + 1)::text || ':' || g::text, ',') || '}/2000')::ext.sparsevec FROM generate_series(0, 19) g)),
 (3, (SELECT ('{' || string_agg((g * 32 + 1)::text || ':' || g::text, ',') || '}/2000')::ext.sparsevec FROM generate_series(0, 59) g)),
 (4, (SELECT ('{' || string_agg((g * 256 + 1)::text || ':' || g::text, ',') || '}/32000')::ext.sparsevec FROM generate_series(0, 99) g)),
 (5, (SELECT ('{' || string_agg((g * 16 + 3)::text || ':' || g::text, ',') || '}/32767')::ext.sparsevec FROM generate_series(0, 1999) g)),
 (6, '{1:1,16385:2,32767:3}/32767'),
 (7, '{1:1}/40000'),
 (8, '{40000:1}/40000'),
 (9, '{}/32768');

INSERT INTO ext_toast VALUES (1, 1,
  (SELECT ST_MakeLine(ARRAY(SELECT ST_MakePoint(g, g * 2) FROM generate_series(1, 500) g))),
  (SELECT ST_MakeLine(ARRAY(SELECT ST_MakePoint(g / 10.0, g / 20.0) FROM generate_series(1, 500) g))::geography),
  (SELECT array_agg(g::real / 7)::ext.vector FROM generate_series(1, 1000) g),
  (SELECT array_agg(g::real / 7)::ext.halfvec FROM generate_series(1, 1000) g),
  (SELECT array_agg(g::real / 7)::ext.vector FROM generate_series(1, 1000) g)::ext.sparsevec,
  (SELECT ST_MakeLine(ARRAY(SELECT ST_MakePoint(g, -g) FROM generate_series(1, 500) g))));
UPDATE ext_toast SET n = 2 WHERE id = 1;
DELETE FROM ext_toast WHERE id = 1;

INSERT INTO ext_unmapped VALUES (1, 'BOX(1 2,3 4)', 'BOX3D(1 2 3,4 5 6)', 'a'), (2, NULL, NULL, 'b');
UPDATE ext_unmapped SET b2 = 'BOX(0 0,1 1)', n = 'c' WHERE id = 1;
DELETE FROM ext_unmapped WHERE id = 2;

INSERT INTO golden_end VALUES (1);
