# The image every Airflow container of docker-compose.yaml runs: Airflow 3.3.2 on Python 3.11
# with the deployment's pinned requirements (no test or lint tools) and the bank_scoring
# package installed from its wheel, the schema files of sql/ inside it.
FROM apache/airflow:3.3.2-python3.11

WORKDIR /opt/bank-scoring

COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Built in a folder of its own: setuptools writes build/ beside the sources.
COPY pyproject.toml README.md /tmp/bank-scoring-src/
COPY bank_scoring /tmp/bank-scoring-src/bank_scoring
COPY sql /tmp/bank-scoring-src/sql
RUN build=$(mktemp -d) && cp -r /tmp/bank-scoring-src/. "$build" \
    && pip install --no-cache-dir --no-deps "$build" && rm -rf "$build"

COPY --chown=airflow:0 dags ./dags
