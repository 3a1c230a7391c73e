# The image every Airflow container of docker-compose.yaml runs: Airflow 3.3.2 on Python 3.11
# with this project's pinned requirements and the bank_scoring package installed.
FROM apache/airflow:3.3.2-python3.11

ENV BANK_SCORING_HOME=/opt/bank-scoring
WORKDIR /opt/bank-scoring

COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml README.md ./
COPY --chown=airflow:0 bank_scoring ./bank_scoring
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -e .

COPY --chown=airflow:0 sql ./sql
COPY --chown=airflow:0 dags ./dags
