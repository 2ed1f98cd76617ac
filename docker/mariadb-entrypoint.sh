#!/bin/sh
# Entry point of docker/mariadb.Dockerfile: makes the data dir on first start,
# then runs mariadbd in the foreground (so `docker stop` reaches it) on
# 127.0.0.1:$MARIADB_PORT. Its --init-file creates, at every start, what
# coffee needs and docker/mysql-init.sql gives the official image: the
# databases coffee and display (utf8mb4_bin) and the user coffee, with the
# password $COFFEE_MYSQL_PASSWORD, from 127.0.0.1 and localhost.
set -eu
: "${COFFEE_MYSQL_PASSWORD:?set COFFEE_MYSQL_PASSWORD}"
case "$COFFEE_MYSQL_PASSWORD" in
    *"'"*|*"\\"*) echo "mariadb-entrypoint: COFFEE_MYSQL_PASSWORD may not hold ' or \\" >&2; exit 2 ;;
esac
if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
        --auth-root-authentication-method=socket >/dev/null
fi
init=/run/mysqld/coffee-init.sql
umask 077
pw=$COFFEE_MYSQL_PASSWORD
cat > "$init" <<SQL
CREATE DATABASE IF NOT EXISTS coffee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS display CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'coffee'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS 'coffee'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'coffee'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'coffee'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON coffee.* TO 'coffee'@'127.0.0.1', 'coffee'@'localhost';
GRANT ALL PRIVILEGES ON display.* TO 'coffee'@'127.0.0.1', 'coffee'@'localhost';
FLUSH PRIVILEGES;
SQL
chown mysql:mysql "$init"
exec mariadbd --user=mysql --datadir=/var/lib/mysql \
    --bind-address=127.0.0.1 --port="$MARIADB_PORT" --skip-networking=0 \
    --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
    --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    --max-connections=500 --innodb-buffer-pool-size=64M --innodb-flush-neighbors=0 \
    --init-file="$init"
