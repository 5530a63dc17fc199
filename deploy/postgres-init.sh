#!/bin/sh
# Run once by the postgres image on an empty data folder: the login role the service connects as.
# It owns nothing, so row-level security applies to it; `identity db grant-app-role` (the migrate
# job) gives it exactly its privileges once the tables exist.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$IDENTITY_APP_PASSWORD" <<'SQL'
CREATE ROLE identity_app LOGIN PASSWORD :'app_password';
SQL
