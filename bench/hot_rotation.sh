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
#
# The rotations move refresh_expires_at forward within one day, as the rotations of one day do: a
# session's first rotation on a new day of its expiry also writes its index entry (and the run
# does not depend on when it starts). It measures the UPDATE alone: the refresh's audit row and
# commit are not in it (bench/inprocess.py counts a whole refresh's WAL). A CHECKPOINT first
# (superuser or pg_checkpoint) makes runs comparable: each page's first change after it is
# logged whole.
set -euo pipefail
db=${1:?database}
rows=${2:-100000}
rotations=${3:-100000}
clients=2
rotations=$((rotations / clients * clients))
export PGOPTIONS="-c client_min_messages=warning"
connect=(-h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}")
[[ -n ${PGPORT:-} ]] && connect+=(-p "$PGPORT")
psql=(psql -X -q -At -v ON_ERROR_STOP=1 "${connect[@]}" -d "$db")
source_table=iam_sessions_devicesession
scratch=bench_hot_rotation
day="timestamptz '2030-01-01 12:00+00'"  # any fixed midday: the expiry day never changes
script=$(mktemp)
trap 'rm -f "$script"; "${psql[@]}" -c "DROP TABLE IF EXISTS $scratch" >/dev/null' EXIT

fillfactor=${FILLFACTOR:-$("${psql[@]}" -c "SELECT coalesce((SELECT substr(o, 12)
    FROM pg_class, unnest(reloptions) o
    WHERE oid = '$source_table'::regclass AND o LIKE 'fillfactor=%'), '100')")}
"${psql[@]}" <<SQL
DROP TABLE IF EXISTS $scratch;
CREATE TABLE $scratch (LIKE $source_table INCLUDING ALL, n integer NOT NULL)
    WITH (fillfactor = $fillfactor);
INSERT INTO $scratch (id, user_id, transport, amr, ip, user_agent, created_at, last_used_at,
                      expires_at, refresh_expires_at, refresh_jti, previous_refresh_jti,
                      revoke_reason, n)
SELECT gen_random_uuid(), gen_random_uuid(), 'body', '["pwd"]', '203.0.113.7',
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0',
       now(), now(), $day + interval '30 days', $day, md5(g::text), '', '', g
  FROM generate_series(1, $rows) g;
CREATE UNIQUE INDEX ON $scratch (n);
VACUUM ANALYZE $scratch;
SQL
"${psql[@]}" -c CHECKPOINT || echo "no CHECKPOINT (needs superuser): runs compare less well" >&2
cat >"$script" <<SQL
\set k random(1, $rows)
UPDATE $scratch SET refresh_jti = md5(random()::text), previous_refresh_jti = refresh_jti,
       rotated_at = now(), last_used_at = now(),
       refresh_expires_at = $day + (now() - timestamptz 'STARTED'),
       ip = '203.0.113.7', user_agent = user_agent
 WHERE n = :k;
SQL
started=$("${psql[@]}" -c "SELECT now()")
sed -i "s/STARTED/$started/" "$script"
start=$("${psql[@]}" -c "SELECT pg_current_wal_insert_lsn()")
ran=$(pgbench -n "${connect[@]}" -c $clients -t $((rotations / clients)) -f "$script" "$db")
wal=$("${psql[@]}" -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$start')::bigint")
grep -E '^tps' <<<"$ran"
for _ in $(seq 100); do  # pgbench's backends report their counts as they exit
    counted=$("${psql[@]}" -c "SELECT n_tup_upd FROM pg_stat_user_tables
        WHERE relid = '$scratch'::regclass")
    ((counted >= rotations)) && break
    sleep 0.1
done
"${psql[@]}" <<SQL
SELECT 'fillfactor $fillfactor: ' || n_tup_upd || ' rotations, '
       || round(100.0 * n_tup_hot_upd / greatest(n_tup_upd, 1), 1) || ' % heap-only, '
       || round($wal / $rotations.0) || ' bytes of WAL each, table and indexes '
       || pg_size_pretty(pg_total_relation_size('$scratch'))
  FROM pg_stat_user_tables WHERE relid = '$scratch'::regclass;
SQL
