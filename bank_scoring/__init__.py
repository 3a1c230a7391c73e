"""Batch lead scoring for a bank's call centre: ingest, train, score, worklist."""

__version__ = "0.1.0"
