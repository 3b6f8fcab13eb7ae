# The monitor daemon. Build context: the repository root.
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

HEALTHCHECK --interval=60s --timeout=10s --start-period=60s CMD ["monitor", "check"]
CMD ["monitor", "run"]
