# identity images. Two targets from one build:
#   service (the default, last stage): the HTTP service and its CLI, without the training packages
#   train:   the same plus the `identity[train]` extra (splink, DuckDB, pandas, pyarrow, faker) for
#            `identity train`, `identity synth` and `identity evaluate`
# Both run as the non-root user `identity`; everything they write (the SQLite file, the signing
# and data keys) lives under the /data volume. deploy/entrypoint.sh checks the settings, migrates
# and activates a policy when asked, then execs the command.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY identity ./identity
# Every wheel either target needs; each target installs only its own from here, offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[train]"

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    IDENTITY_RULES_DIR=/app/matching_rules \
    IDENTITY_DATABASE_URL=sqlite:////data/identity.db \
    IDENTITY_SIGNING_KEY_FILE=/data/keys/signing-key.pem \
    IDENTITY_DATA_KEY_FILE=/data/keys/data-key \
    IDENTITY_DEV_KEY_FILE=/data/keys/dev-key.pem
RUN useradd --system --uid 10001 --user-group --home-dir /app identity \
    && mkdir -p /data/keys && chown -R identity:identity /data && chmod 0700 /data/keys
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels identity && rm -rf /wheels
# `identity db upgrade` looks for the migrations beside the package.
COPY migrations /usr/local/lib/python3.11/site-packages/migrations
COPY matching_rules ./matching_rules
COPY deploy/entrypoint.sh /usr/local/bin/identity-entrypoint
# A named volume starts as a copy of this folder, owned by `identity`.
VOLUME ["/data"]
USER identity
EXPOSE 8000
ENTRYPOINT ["identity-entrypoint"]
CMD ["identity", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS train
USER root
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "identity[train]" && rm -rf /wheels
USER identity
# Jobs run against a database the service's migration job keeps current.
ENV IDENTITY_MIGRATE=0
CMD ["identity", "--help"]

FROM runtime AS service
# Ready: the database is reachable, the schema is at head and a policy is active.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
