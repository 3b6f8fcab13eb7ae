# monitor: `monitor run` (the single-process daemon) by default; docker-compose.yml
# runs `monitor scheduler` and `monitor worker` from the same image. Build context:
# the repository root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY monitor ./monitor
RUN pip install -c constraints.txt .

COPY config ./config
COPY seeds ./seeds

RUN useradd --create-home --uid 10001 monitor && mkdir -p /app/data && chown monitor /app/data
USER monitor

# With MONITOR_METRICS__LISTEN set, asks the running process's /healthz; without it,
# checks that the database answers at the current schema revision.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s CMD ["monitor", "health"]
CMD ["monitor", "run"]
