"""The desk as an ASGI application built from configuration: ``uvicorn bank_scoring.desk.asgi:app``.

``bank-scoring serve`` runs it; so does the docker-compose ``desk`` service. Behind HTTPS
set BANK_SCORING_DESK_HTTPS=1 so the session cookie is marked Secure.
"""

from __future__ import annotations

from bank_scoring.config import desk_https, desk_secret_key, load_settings
from bank_scoring.db import make_db_engine
from bank_scoring.desk.app import create_app

# Requests run in anyio's worker threads (40 by default): one pooled connection each.
REQUEST_THREADS = 40


def build():
    settings = load_settings()
    return create_app(
        make_db_engine(settings.db_url, pool_size=REQUEST_THREADS),
        desk_secret_key(settings),
        https_only=desk_https(),
    )


app = build()
