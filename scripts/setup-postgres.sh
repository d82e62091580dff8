#!/usr/bin/env bash
# Ensure a local PostgreSQL 15 for reagent's database tests, then print its URL.
#   * installs postgresql-15 (apt) only if it is missing,
#   * creates the cluster 15/main if there is none and starts it if it is down,
#   * creates (or updates) a login role allowed to create databases, and a database
#     owned by it (the tests create and drop their own reagent_test_* databases).
# Idempotent: a second run changes nothing and prints the same URL.
# Needs root (or the postgres user's rights) for the install, start and role steps.
#
#   REAGENT_PG_ROLE      role name        (default: reagent)
#   REAGENT_PG_PASSWORD  role password    (default: reagent)
#   REAGENT_PG_DATABASE  database name    (default: reagent)
#
# stdout: the URL only, e.g. postgres://reagent:reagent@127.0.0.1:5432/reagent
#   export REAGENT_TEST_POSTGRES_URL="$(scripts/setup-postgres.sh)"
set -euo pipefail

version=15
cluster=main
role="${REAGENT_PG_ROLE:-reagent}"
password="${REAGENT_PG_PASSWORD:-reagent}"
database="${REAGENT_PG_DATABASE:-reagent}"

say() { printf 'setup-postgres: %s\n' "$*" >&2; }
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# --- the server package ---------------------------------------------------------------
if [ -x "/usr/lib/postgresql/$version/bin/postgres" ] && command -v pg_ctlcluster >/dev/null; then
  say "postgresql-$version installed"
else
  say "installing postgresql-$version"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "postgresql-$version" >&2
fi

# --- the cluster ------------------------------------------------------------------------
cluster_line() { pg_lsclusters --no-header 2>/dev/null | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c'; }
if [ -z "$(cluster_line)" ]; then
  say "creating cluster $version/$cluster"
  pg_createcluster "$version" "$cluster" >&2
fi
port="$(cluster_line | awk '{print $3}')"
if cluster_line | awk '{print $4}' | grep -q '^online'; then
  say "cluster $version/$cluster running on port $port"
else
  say "starting cluster $version/$cluster on port $port"
  pg_ctlcluster "$version" "$cluster" start >&2
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || { say "PostgreSQL is not accepting connections on 127.0.0.1:$port"; exit 1; }

# --- role and database (psql quotes the values: %I identifiers, %L literals) -----------
as_postgres psql -X -q -p "$port" -d postgres -v ON_ERROR_STOP=1 \
  -v role="$role" -v password="$password" -v database="$database" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SQL

# URL-encode the password for the URL (role and database names are used as given).
url_password="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$password" 2>/dev/null || printf '%s' "$password")"
url="postgres://$role:$url_password@127.0.0.1:$port/$database"
PGPASSWORD="$password" psql -X -q -h 127.0.0.1 -p "$port" -U "$role" -d "$database" -tAc 'SELECT 1' >/dev/null \
  || { say "cannot log in as $role to $database on 127.0.0.1:$port"; exit 1; }
say "ready: $role@127.0.0.1:$port/$database (role may create databases)"
printf '%s\n' "$url"
