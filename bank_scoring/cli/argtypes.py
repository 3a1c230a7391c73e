"""Argument types shared by the subcommands: each turns a bad value into a message naming it."""

from __future__ import annotations

import argparse
import datetime as dt


def date_arg(value: str) -> dt.date:
    """YYYY-MM-DD, or 'today'."""
    if value == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD (or 'today'), got {value!r}") from None


def positive_arg(value: str) -> int:
    """A whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {number}")
    return number
