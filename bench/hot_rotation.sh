#!/usr/bin/env bash
# How many of a refresh's row rewrites PostgreSQL makes heap-only (HOT: no index entry written),
# and the WAL each writes, on a session table of many rows (docs/performance.md, eleventh pass).
#
#   bench/hot_rotation.sh <database> [rows] [rotations]
#
# <database> holds the IAM's schema: the one bench/inprocess.py migrated (bench_inprocess) or
# any other. The script copies the session table's definition (columns, generated columns,
# indexes, fill factor) into a scratch table, fills it with <rows> sessions (default 100,000),
# then runs <rotations> (default 100,000) rotations with pgbench, two clients, each its own
# transaction, on random sessions: the rotation statement's SET list, by primary key. It prints
# the share of HOT updates, the WAL per rotation and the table's size, then drops the table.
# Run it against databases migrated before and after a schema change to compare them;
# FILLFACTOR=<percent> overrides the table's own fill factor.
set -euo pipefail
db=${1:?database}
rows=${2:-100000}
rotations=${3:-100000}
export PGOPTIONS="-c client_min_messages=warning"
psql=(psql -X -q -At -v ON_ERROR_STOP=1 -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" -d "$db")
source_table=iam_sessions_devicesession
scratch=bench_hot_rotation
script=$(mktemp)
trap 'rm -f "$script"; "${psql[@]}" -c "DROP TABLE IF EXISTS $scratch" >/dev/null' EXIT

fillfactor=${FILLFACTOR:-$("${psql[@]}" -c "SELECT coalesce((SELECT substr(o, 12) FROM pg_class,
    unnest(reloptions) o WHERE relname = '$source_table' AND o LIKE 'fillfactor=%'), '100')")}
columns=$("${psql[@]}" -c "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
    FROM information_schema.columns WHERE table_name = '$source_table'
    AND is_generated = 'NEVER'")
"${psql[@]}" <<SQL
DROP TABLE IF EXISTS $scratch;
CREATE TABLE $scratch (LIKE $source_table INCLUDING ALL, n integer NOT NULL)
    WITH (fillfactor = $fillfactor);
INSERT INTO $scratch ($columns, n)
SELECT gen_random_uuid(), 'body', '["pwd"]', '203.0.113.7',
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0',
       now(), now(), now() + interval '30 days', now() + interval '7 days',
       md5(g::text), '', NULL, NULL, '', gen_random_uuid(), NULL, NULL, g
  FROM generate_series(1, $rows) g;
CREATE UNIQUE INDEX ON $scratch (n);
VACUUM ANALYZE $scratch;
CHECKPOINT;
SQL
cat >"$script" <<SQL
\set k random(1, $rows)
UPDATE $scratch SET refresh_jti = md5(random()::text), previous_refresh_jti = refresh_jti,
       rotated_at = now(), last_used_at = now(), refresh_expires_at = now() + interval '7 days',
       ip = '203.0.113.7', user_agent = user_agent
 WHERE n = :k;
SQL
start=$("${psql[@]}" -c "SELECT pg_current_wal_insert_lsn()")
ran=$(pgbench -n -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" -c 2 \
    -t $((rotations / 2)) -f "$script" "$db")
grep -E '^tps' <<<"$ran"
sleep 1  # the statistics collector
"${psql[@]}" <<SQL
SELECT 'fillfactor $fillfactor: ' || n_tup_upd || ' rotations, '
       || round(100.0 * n_tup_hot_upd / greatest(n_tup_upd, 1), 1) || ' % heap-only, '
       || round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$start') / $rotations)
       || ' bytes of WAL each, table and indexes '
       || pg_size_pretty(pg_total_relation_size('$scratch'))
  FROM pg_stat_user_tables WHERE relname = '$scratch';
SQL
