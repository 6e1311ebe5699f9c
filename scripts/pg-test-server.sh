#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (Debian's postgresql package).
#
#   scripts/pg-test-server.sh start ENVFILE   # start on a free port; write the URL to ENVFILE
#   scripts/pg-test-server.sh stop  ENVFILE   # stop it and delete its files
#   scripts/pg-test-server.sh down  ENVFILE   # crash it (immediate stop), keeping its files
#   scripts/pg-test-server.sh up    ENVFILE   # start it again after `down`, on the same port
#
# ENVFILE gets shell assignments, the first one being
#   FDT_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres
# which the cloud tests read (each test creates its own database on that server). The cluster
# lives in a temporary directory, trusts local connections, listens on 127.0.0.1 only and runs
# with fsync off: it is for tests and nothing else. `down` and `up` are for the chaos drill's
# database outage. Commits are asynchronous (a crash may lose the last few hundred ms of them)
# unless FDT_TEST_PG_DURABLE=1 at `start`: then a commit waits for its WAL to be written, so a
# crash (`down`) loses no committed transaction, as on a production server; `up` keeps the mode.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|down|up ENVFILE" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
envfile=$2

# As root the server runs as the `postgres` user (initdb refuses root); otherwise as the caller.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

find_pgbin() {
  local initdb
  initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

# `pg_ctl start` of the cluster in $1 on port $2, synchronous_commit $3 (on or off).
pg_start() {
  local dir=$1 port=$2 commit=$3
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=$commit -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
}

# A port nobody listens on now. pg_ctl fails if the port is taken meanwhile; start retries.
pick_port() {
  local port
  while :; do
    port=$((40000 + RANDOM % 20000))
    if ! command -v ss >/dev/null || [ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
      echo "$port"
      return
    fi
  done
}

start() {
  local pgbin dir port url attempt
  pgbin=$(find_pgbin || true)
  if [ -z "$pgbin" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2
      exit 1
    fi
    echo "==> installing postgresql" >&2
    apt-get update -qq
    # The packaged cluster does not start without systemd; we only need the binaries.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 postgresql >/dev/null
    pgbin=$(find_pgbin)
  fi

  dir=$(mktemp -d "${TMPDIR:-/tmp}/fdt-pg.XXXXXX")
  chmod 700 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
  if ! as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi

  local commit=off
  if [ "${FDT_TEST_PG_DURABLE:-0}" = 1 ]; then commit=on; fi
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    if pg_start "$dir" "$port" "$commit"; then
      url="postgres://postgres@127.0.0.1:$port/postgres"
      {
        echo "FDT_TEST_PG_URL=$url"
        echo "FDT_TEST_PG_DIR=$dir"
        echo "FDT_TEST_PG_BIN=$pgbin"
        echo "FDT_TEST_PG_PORT=$port"
        echo "FDT_TEST_PG_COMMIT=$commit"
      } >"$envfile"
      echo "FDT_TEST_PG_URL=$url"
      return 0
    fi
    echo "postgres did not start on port $port (attempt $attempt); retrying" >&2
  done
  cat "$dir/server.log" >&2 || true
  rm -rf "$dir"
  exit 1
}

# Reads the server's directory, binaries and port from $envfile into dir, pgbin and port:
# read, not sourced, since it is data, not a script.
read_envfile() {
  dir=$(sed -n 's/^FDT_TEST_PG_DIR=//p' "$envfile")
  pgbin=$(sed -n 's/^FDT_TEST_PG_BIN=//p' "$envfile")
  port=$(sed -n 's/^FDT_TEST_PG_PORT=//p' "$envfile")
  commit=$(sed -n 's/^FDT_TEST_PG_COMMIT=//p' "$envfile")
  case "$commit" in on) ;; *) commit=off ;; esac
  case "$dir" in
    */fdt-pg.*) ;;
    *) echo "refusing to touch unexpected directory '$dir'" >&2; exit 1 ;;
  esac
}

# Stops the server at once, as a crash would (no checkpoint); its files stay for `up`.
down() {
  local dir pgbin port commit
  read_envfile
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
}

# Starts the server `down` stopped, on its port (crash recovery runs first).
up() {
  local dir pgbin port commit
  read_envfile
  [ -n "$port" ] || { echo "no FDT_TEST_PG_PORT in $envfile" >&2; exit 1; }
  if ! pg_start "$dir" "$port" "$commit"; then
    cat "$dir/server.log" >&2 || true
    exit 1
  fi
}

stop() {
  local dir pgbin port commit
  [ -f "$envfile" ] || { echo "no $envfile: nothing to stop" >&2; return 0; }
  read_envfile
  if [ -d "$dir/data" ]; then
    as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  rm -f "$envfile"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  down) down ;;
  up) up ;;
  *) usage ;;
esac
