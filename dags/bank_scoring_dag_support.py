"""What both DAGs share: which database to use. Not a DAG file (see .airflowignore)."""

from __future__ import annotations

import datetime as dt
import logging

from bank_scoring.config import load_settings

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "owner": "bank-scoring",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=load_settings().retry_delay_seconds),
}


def labelled_asset():
    """The Asset of new labelled calls: the nightly DAG updates it, the retrain DAG runs on it."""
    from airflow.sdk import Asset

    from bank_scoring.constants import LABELLED_ASSET_URI

    return Asset(LABELLED_ASSET_URI, extra={"table": "campaign_contacts"})


def bank_db_url() -> str:
    """The Airflow connection ``bank_scoring_db`` when defined, else BANK_SCORING_DB_URL."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from bank_scoring.config import AIRFLOW_CONN_ID, db_url_from_airflow_connection

    try:
        conn = Connection.get(AIRFLOW_CONN_ID)
    except AirflowNotFoundException:
        conn = None
    if conn is None:
        log.info("no Airflow connection %s: using BANK_SCORING_DB_URL or the embedded default", AIRFLOW_CONN_ID)
        return load_settings().db_url
    log.info("using the Airflow connection %s", AIRFLOW_CONN_ID)
    return db_url_from_airflow_connection(
        conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port, conn.extra_dejson
    )


def bank_engine():
    from bank_scoring.db import make_db_engine, safe_url

    url = bank_db_url()
    log.info("bank database: %s", safe_url(url))
    return make_db_engine(url)
