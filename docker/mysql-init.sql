-- Run once by the mysql image on an empty data volume (mounted into
-- /docker-entrypoint-initdb.d/). The image itself creates the database
-- MYSQL_DATABASE (coffee) and the user MYSQL_USER with rights on it; this adds
-- the display side's own database (CQRS: the display role never reads the
-- command store) and gives the same user rights on it.
CREATE DATABASE IF NOT EXISTS coffee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE DATABASE IF NOT EXISTS display CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
GRANT ALL PRIVILEGES ON coffee.* TO 'coffee'@'%';
GRANT ALL PRIVILEGES ON display.* TO 'coffee'@'%';
FLUSH PRIVILEGES;
