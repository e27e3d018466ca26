#!/bin/sh
set -eu
if [ "$(id -u)" = 0 ] && [ "${1:-}" = redis-server ]; then
  chown -R redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
