# MariaDB from Debian 12's own packages, for scripts/docker_stack.sh (where no
# image registry is reachable, so the official mysql image of compose.yaml
# cannot be pulled). Build with the folder docker/ as the context:
#   docker build -f docker/mariadb.Dockerfile -t coffee-mariadb:local docker
# Run with host networking; it listens on 127.0.0.1 only:
#   docker run -d --network host -e MARIADB_PORT=3306 -e COFFEE_MYSQL_PASSWORD=... coffee-mariadb:local
FROM debian:12
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-server \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/* \
 && mkdir -p /run/mysqld \
 && chown mysql:mysql /run/mysqld /var/lib/mysql
COPY mariadb-entrypoint.sh /usr/local/bin/mariadb-entrypoint.sh
ENV MARIADB_PORT=3306
VOLUME ["/var/lib/mysql"]
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
    CMD mariadb-admin --protocol=socket --socket=/run/mysqld/mysqld.sock ping --silent || exit 1
ENTRYPOINT ["/usr/local/bin/mariadb-entrypoint.sh"]
