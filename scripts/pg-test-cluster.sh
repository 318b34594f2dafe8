#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the team-store tests:
#   pg-test-cluster.sh start DIR   initdb into DIR/data, a server on a Unix socket in DIR
#                                  (no TCP), and prints the connection settings as
#                                  `export NAME=value` lines (eval them);
#   pg-test-cluster.sh stop DIR    stops it and removes DIR;
#   pg-test-cluster.sh down DIR    stops the server only (the data stays), and
#   pg-test-cluster.sh up DIR      starts it again (tests of a database that goes away).
# initdb refuses to run as root: as root the cluster belongs to an unprivileged user
# (postgres if it exists, else nobody). The server binaries come from PATH, else from the
# distribution's /usr/lib/postgresql/*/bin.
set -euo pipefail
action="${1:-}"
dir="${2:-}"
if [ -z "$action" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|down|up DIR" >&2
  exit 2
fi
port=54329
case "$dir" in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac
# The cluster's owner may not enter the caller's directory.
cd /

find_bin() {
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then
    echo "$found"
    return
  fi
  echo "pg-test-cluster: no initdb found (install the postgresql package)" >&2
  exit 1
}

owner=""
if [ "$(id -u)" = "0" ]; then
  if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi
as_owner() {
  if [ -n "$owner" ]; then
    # runuser keeps it non-interactive; the owner's shell may be nologin (nobody).
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

server_up() {
  # Unix socket only, in DIR; small and fast settings (durability does not matter here).
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $dir -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=128MB" \
    start >/dev/null || {
      cat "$dir/server.log" >&2
      exit 1
    }
}

server_down() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

bin="$(find_bin)"
case "$action" in
  start)
    mkdir -p "$dir"
    if [ -n "$owner" ]; then
      chown "$owner" "$dir"
      chmod 0755 "$dir"
      if ! as_owner test -x "$dir"; then
        echo "pg-test-cluster: $owner cannot reach $dir (a parent directory is private);" \
          "use a directory such as one from mktemp -d" >&2
        exit 1
      fi
    fi
    superuser="clinvk_admin"
    as_owner "$bin/initdb" -D "$dir/data" -U "$superuser" --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
      }
    server_up
    echo "export CLINVK_TEST_PG_HOST=$dir"
    echo "export CLINVK_TEST_PG_PORT=$port"
    echo "export CLINVK_TEST_PG_USER=$superuser"
    echo "export CLINVK_TEST_PG_BIN=$bin"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  down)
    server_down
    ;;
  up)
    server_up
    ;;
  *)
    echo "usage: $0 start|stop|down|up DIR" >&2
    exit 2
    ;;
esac
