"""``nufair adql``: ADQL tools that need no database."""

from __future__ import annotations

import sys

import click


@click.group()
def adql() -> None:
    """ADQL tools."""


@adql.command()
@click.argument("query")
def check(query: str) -> None:
    """Check that QUERY is syntactically valid ADQL 2.1 (exit 0), else say where (exit 2).

    Only the syntax is checked: table and column names are not looked up.
    """
    from vo.adql import syntax_check
    from vo.errors import AdqlError

    try:
        syntax_check(query)
    except AdqlError as exc:
        where = f"line {exc.line}, column {exc.column}: " if exc.line is not None else ""
        click.echo(f"invalid ADQL: {where}{exc.reason}", err=True)
        sys.exit(2)
    click.echo("valid ADQL 2.1")
