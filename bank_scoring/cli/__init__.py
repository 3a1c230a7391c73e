"""``bank-scoring``: one subcommand per step, each a thin call into the package.

``parser`` declares the command line, ``commands`` runs each subcommand. :func:`main` maps
the package's exceptions to exit codes: 2 for bad input (a file, an argument, a database
it cannot upgrade), 1 for an operation that failed (no model, a tampered artifact, a
failed run, the database unreachable).
"""

from __future__ import annotations

import logging
import sys

from bank_scoring.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ValueError as exc:  # a bad setting in the environment
        print(f"bank-scoring: configuration error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from sqlalchemy.exc import SQLAlchemyError

    from bank_scoring.ingest import IngestError
    from bank_scoring.registry import ModelIntegrityError, NoChampionError
    from bank_scoring.scoring import ScoringError
    from bank_scoring.validate import TrainingDataError

    try:
        return args.func(args)
    except (IngestError, TrainingDataError, ValueError, LookupError) as exc:
        print(f"bank-scoring {args.command}: {exc}", file=sys.stderr)
        return 2
    except (ModelIntegrityError, NoChampionError, ScoringError) as exc:
        print(f"bank-scoring {args.command}: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # The driver's first line says what went wrong; SQLAlchemy never puts the password in it.
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        hint = ""
        if args.command == "score":
            hint = (
                f"; nothing was published, agents still see the previous published run; "
                f"rerun `bank-scoring score --date {args.date}` when the database is back"
            )
        print(f"bank-scoring {args.command}: database error: {detail}{hint}", file=sys.stderr)
        return 1
