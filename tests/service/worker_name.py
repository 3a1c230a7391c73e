"""hostname_callable for the Celery test: two workers on one machine, told apart by name."""

import os
import socket


def hostname() -> str:
    return os.environ.get("BANK_SCORING_WORKER_NAME") or socket.getfqdn()
