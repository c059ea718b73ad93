"""``nufair adql``: ADQL tools that need no database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

#: Exit status of ``check``: valid; not ADQL (syntax or a rule of the language); valid
#: ADQL naming tables or columns this service does not publish.
VALID, INVALID, UNKNOWN_NAMES = 0, 2, 3

#: Starts of the messages that are about names this service does not know, not about ADQL.
_NAME_ERRORS = ("unknown table '", "unknown column '", "no uploaded table ")


@click.group()
def adql() -> None:
    """ADQL tools."""


@adql.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", required=False)
@click.option("-f", "--file", "path", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path),
              help="Read the query from this file.")
def check(query: str | None, path: Path | None) -> None:
    """Check that QUERY is ADQL 2.1 (exit 0), else say where (exit 2).

    The query is the argument, or the file given with --file, or standard input (no
    argument, or "-"). A query may begin with a comment ("-- ..."). After the syntax, the
    language's rules are checked against this service's published tables: a valid query
    naming a table or column it does not publish exits 3, and says so.
    """
    from vo.adql import syntax_check
    from vo.adql.translate import translate
    from vo.errors import AdqlError, VoError

    if path is not None:
        text = path.read_text(encoding="utf-8")
    elif query is None or query == "-":
        text = sys.stdin.read()
    else:
        text = query
    try:
        syntax_check(text)
    except AdqlError as exc:
        click.echo(f"invalid ADQL: {_where(exc)}{exc.reason}", err=True)
        sys.exit(INVALID)
    try:
        translate(text)
    except AdqlError as exc:
        if exc.reason.startswith(_NAME_ERRORS):
            click.echo(f"valid ADQL 2.1 syntax, but not a query of this service: "
                       f"{_where(exc)}{exc.reason}")
            sys.exit(UNKNOWN_NAMES)
        click.echo(f"invalid ADQL: {_where(exc)}{exc.reason}", err=True)
        sys.exit(INVALID)
    except VoError as exc:  # a limit of this service (length, nesting), not of ADQL
        click.echo(f"valid ADQL 2.1 syntax; this service refuses it: {exc}")
        sys.exit(UNKNOWN_NAMES)
    click.echo("valid ADQL 2.1")


def _where(exc: object) -> str:
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    return f"line {line}, column {column}: " if line is not None else ""
