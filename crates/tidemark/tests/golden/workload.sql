-- Workload for the golden fixtures. Each statement is its own transaction unless grouped.
INSERT INTO zoo (i2, i4, i8, oid_c, f4, f8, n, n102, n50, m, b, c, vc, t, nm, ci, by, bt1, bt8, vb,
  d, tm, tm3, ttz, ts, ts3, ts0, tstz, tstz3, iv, u, j, jb, x, inet_c, cidr_c, mac, mac8, e, dom,
  ai, at, an, ad, a2, au, h, lt, pt, r4, rn, rts, rtstz, rd, r8, tv)
VALUES
 (1, 2, 3, 4, 3.3, 4.44, 10.10, 1234.11, 12345, 1234.11, true, 'ab', 'varchar', 'text ž', 'nm', 'CiText', '\x010203',
  B'1', B'10101010', B'101',
  '2024-01-15', '13:51:30', '13:51:30.123', '13:51:30.123789+02', '2024-01-15 10:30:00.123456', '2024-01-15 10:30:00.123',
  '2024-01-15 10:30:00', '2024-01-15 08:30:00.123456+00', '2024-01-15 08:30:00.5+00',
  '1 year 2 mons 3 days 04:05:06.78', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"bar": "baz"}', '{"bar": "baz", "a": [1, 2]}',
  '<foo>bar</foo>', '192.168.2.0/12', '192.168.100.128/25', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', 'ok', 7,
  '{1,2,3}', '{"a b","c\"d",NULL}', '{1.5,2.25}', '{2016-11-04}', '{{1,2},{3,4}}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
  '"key"=>"val", "n"=>NULL', 'Top.Science', '(1,1)',
  '[1000,6000)', '[5.3,6.3)', '[2019-03-31 15:30:00,2019-04-30 15:30:00]', '[2017-06-05 11:29:12.549426+00,)', '[2019-03-31,infinity)', '[1000000,6000000)',
  'a fat cat sat on a mat');
INSERT INTO zoo (i4, f4, f8, n, n102, ts, tstz, d, iv, m)
VALUES (-1, 'NaN', '-Infinity', -0.001, -1234.11, '0044-03-15 10:00:00 BC', '21016-11-04 06:51:30.123456+00', '1900-01-01', '-1 days -00:00:01.5', -1234.11);
INSERT INTO zoo DEFAULT VALUES;
UPDATE zoo SET t = 'updated', n102 = 0.01 WHERE id = 1;
DELETE FROM zoo WHERE id = 3;

INSERT INTO toasty VALUES (1, 1, 'note', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200) g), decode(repeat('ab', 5000), 'hex'));
UPDATE toasty SET n = 2 WHERE id = 1;
DELETE FROM toasty WHERE id = 1;

INSERT INTO full_t VALUES (1, 1, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200) g));
UPDATE full_t SET n = 2 WHERE id = 1;
DELETE FROM full_t WHERE id = 1;

INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, NULL);
DELETE FROM nokey WHERE a = 1;

BEGIN;
INSERT INTO ck VALUES ('eu', 'A1', 1);
UPDATE ck SET code = 'B2' WHERE region = 'eu' AND code = 'A1';
UPDATE ck SET qty = 5 WHERE region = 'eu';
COMMIT;

INSERT INTO part VALUES (1, 'eu', 1), (2, 'us', 2);
UPDATE part SET v = 10 WHERE id = 1;
DELETE FROM part WHERE id = 2;

INSERT INTO "Odd Schema"."Mixed.Case" VALUES (1, 'odd');

INSERT INTO golden_end VALUES (1);
