#!/usr/bin/env bash
# Installs the PostgreSQL server binaries that the tests of the PostgreSQL
# backend start a throwaway cluster with (storage/postgres/pgtest), when
# initdb is missing. Without them those tests skip. Debian's package puts
# the binaries in /usr/lib/postgresql/<version>/bin and creates the
# postgres system user, which the tests run the server as when they run
# as root. It does not start any server.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "postgres-deps: initdb is missing; install the postgresql package (as root: apt-get install postgresql)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
ls -d /usr/lib/postgresql/*/bin
