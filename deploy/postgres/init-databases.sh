#!/bin/sh
# One database and one login role per service (goals, onboarding, feedback, notifications).
#
# The postgres image runs this once, on an empty data directory
# (/docker-entrypoint-initdb.d/). Each role owns its database and that database's public
# schema, may create tables there, and nothing else: CONNECT is revoked from PUBLIC, so
# no service can connect to another's database; no role is superuser or may create
# databases or roles. Services never read each other's tables.
#
# Environment: <SERVICE>_DB_PASSWORD for each service (required); POSTGRES_USER (the
# superuser, default postgres); TRELLIS_DB_PREFIX prefixes every database and role name
# (default none; tests/test_deploy_postgres.py uses a unique one). psql connects with the
# usual PG* variables (the image's local socket when run by initdb).
set -e  # not -u: the image sources a script that is not executable

prefix="${TRELLIS_DB_PREFIX:-}"
for service in goals onboarding feedback notifications; do
  var="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  eval "password=\${$var:?set $var}"
  # The heredoc is quoted: psql, not the shell, substitutes :"name" and :'password'.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="$prefix$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
\connect :"name"
ALTER SCHEMA public OWNER TO :"name";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
done
