#!/bin/sh
# The official entrypoint's contract, minimally: options alone mean mariadbd; an empty data dir is initialised with
# MARIADB_ROOT_PASSWORD, MARIADB_DATABASE, MARIADB_USER and MARIADB_PASSWORD.
set -e
if [ "${1#-}" != "$1" ]; then set -- mariadbd "$@"; fi
if [ "$1" = mariadbd ]; then
  shift
  set -- mariadbd --user=mysql "$@"
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db --auth-root-authentication-method=normal >/dev/null
    "$@" --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    i=0
    until mariadb --protocol=socket -S /run/mysqld/init.sock -uroot -e 'select 1' >/dev/null 2>&1; do
      i=$((i + 1)); [ "$i" -lt 120 ] || { echo "mariadb did not start" >&2; exit 1; }; sleep 0.5
    done
    mariadb --protocol=socket -S /run/mysqld/init.sock -uroot <<SQL
DROP USER IF EXISTS ''@'localhost';
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}';
CREATE USER 'root'@'%' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;
CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';
GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';
SQL
    kill "$pid"
    wait "$pid" || true
  fi
fi
exec "$@"
