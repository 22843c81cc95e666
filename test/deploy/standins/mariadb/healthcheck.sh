#!/bin/sh
# Stand-in for the official healthcheck.sh: --connect (a query answers) and --innodb_initialized (InnoDB is up).
set -e
q='select 1'
for a in "$@"; do
  case "$a" in
    --innodb_initialized) q="select 1 from information_schema.ENGINES where ENGINE='InnoDB' and SUPPORT in ('YES','DEFAULT')" ;;
  esac
done
out=$(mariadb --protocol=socket -uroot -p"$MARIADB_ROOT_PASSWORD" -N -e "$q")
[ "$out" = 1 ]
