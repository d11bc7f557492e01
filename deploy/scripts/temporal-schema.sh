#!/bin/sh
# Creates Temporal's two PostgreSQL databases (persistence and visibility) and brings their
# schemas to the version the server image expects. Safe to run on every `docker compose up`:
# `create` and `setup-schema` leave an existing database alone, and `update-schema` applies only
# what is missing. Runs in the temporalio/admin-tools image, whose tag must equal the server's.
#
#   SQL_HOST, SQL_PORT, SQL_USER   the PostgreSQL server and the role Temporal uses
#   SQL_PASSWORD                   read by temporal-sql-tool from the environment (never argv)
set -eu

: "${SQL_HOST:?SQL_HOST must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
port="${SQL_PORT:-5432}"
user="${SQL_USER:-temporal}"
schemas=/etc/temporal/schema/postgresql/v12

until nc -z "$SQL_HOST" "$port"; do
    echo "waiting for PostgreSQL at $SQL_HOST:$port"
    sleep 2
done

sql() {
    # sql DATABASE ARGS...: temporal-sql-tool against one of the two databases.
    database="$1"
    shift
    temporal-sql-tool --plugin postgres12 --ep "$SQL_HOST" -p "$port" -u "$user" \
        --db "$database" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
    database="${pair%%:*}"
    schema="${pair#*:}"
    sql "$database" create
    sql "$database" setup-schema -v 0.0
    sql "$database" update-schema -d "$schemas/$schema/versioned"
    echo "database $database is at the current schema"
done
