#!/bin/sh
# Initialises $PGDATA on first start the way the official image does, then runs postgres as the
# postgres user. The password reaches initdb through a 0600 file, never an argument.
set -eu

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres "$PGDATA" /run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set to initialise the database}"
  user="${POSTGRES_USER:-postgres}"
  database="${POSTGRES_DB:-$user}"
  password_file="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" >"$password_file"
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    # On a private socket, so that pg_isready (the container's healthcheck) cannot mistake this
    # short-lived server for the real one.
    init_socket="$(mktemp -d)"
    pg_ctl --pgdata="$PGDATA" --wait --silent start \
      --options="-c listen_addresses='' -c unix_socket_directories=$init_socket"
    createdb --host="$init_socket" --username="$user" "$database"
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    rmdir "$init_socket"
  fi
  echo "initialised $PGDATA (user $user, database $database)"
fi

unset POSTGRES_PASSWORD
exec "$@"
