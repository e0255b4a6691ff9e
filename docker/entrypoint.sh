#!/bin/sh
# The images' entrypoint.
#   serve (the default command): apply the migrations in db/, then exec `python -m service`.
#   anything else runs as given, e.g.
#     docker compose run --rm riskscan flask --app service seed
#     docker compose run --rm riskscan flask --app service create-admin --email you@example.com
set -eu

if [ "$#" -gt 0 ] && [ "$1" != "serve" ]; then
    exec "$@"
fi

# AUTO_MIGRATE as service/config.py reads it (true by default). The migration runs in its own
# process without loading the model (MODEL_DIR=off), so a migration failure stops the
# container in seconds with Alembic's message; the server then starts with AUTO_MIGRATE=false
# and does not migrate a second time.
case "$(printf '%s' "${AUTO_MIGRATE:-true}" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')" in
    1|true|yes|on|"")
        MODEL_DIR=off flask --app service init-db ;;
    0|false|no|off)
        echo "entrypoint: AUTO_MIGRATE=${AUTO_MIGRATE}: not migrating" >&2 ;;
    *)
        echo "riskscan: configuration error: AUTO_MIGRATE: expected true or false, got '${AUTO_MIGRATE}'" >&2
        exit 2 ;;
esac

AUTO_MIGRATE=false
export AUTO_MIGRATE
exec python -m service
