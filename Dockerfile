# identity service image: build wheels in one stage, run as a non-root user in the next.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY identity ./identity
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    IDENTITY_RULES_DIR=/app/matching_rules \
    IDENTITY_DATABASE_URL=sqlite:////data/identity.db
RUN useradd --system --uid 10001 --home-dir /app identity \
    && mkdir -p /data && chown identity /data
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
# The migrations are run by `identity db upgrade`, which looks for them beside the package.
COPY migrations /usr/local/lib/python3.11/site-packages/migrations
COPY matching_rules ./matching_rules
USER identity
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["identity", "serve", "--host", "0.0.0.0", "--port", "8000"]
