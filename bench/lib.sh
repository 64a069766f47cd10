# Shared by the bench/*.sh scripts: a throwaway PostgreSQL cluster on a random port.
#
#   source "$(dirname "$0")/lib.sh"
#   start_cluster "<extra postgresql.conf lines>"     # sets WORK, PORT, PGBIN, BASE_DSN; psql_ DB ARGS...
# The cluster and $WORK are removed on exit; scripts add their own clean-up with `on_exit`.

PGBIN=${TIDEMARK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
WORK=$(mktemp -d /tmp/tidemark-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE_DSN="postgres://postgres@127.0.0.1:$PORT"
EXIT_HOOKS=()

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
on_exit() { EXIT_HOOKS+=("$1"); }
_cleanup() {
  local h
  for h in "${EXIT_HOOKS[@]}"; do eval "$h" || true; done
  as_pg "$PGBIN/pg_ctl" -D "$WORK/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap _cleanup EXIT

# psql_ DB ARGS... — unaligned, tuples only, stop on error.
psql_() { local db=$1; shift; "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$BASE_DSN/$db?sslmode=disable" "$@"; }

start_cluster() {
  [ "$(id -u)" = 0 ] && chown postgres: "$WORK"
  as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust --no-sync >/dev/null
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PORT"
    echo "unix_socket_directories = '$WORK'"
    echo "max_wal_size = 16GB"
    echo "checkpoint_timeout = 1h"
    echo "synchronous_commit = off"
    echo "$1"
  } >> "$WORK/data/postgresql.conf"
  as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" start -w >/dev/null
}
