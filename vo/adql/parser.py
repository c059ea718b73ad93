"""Parse ADQL text into a lark syntax tree; syntax errors carry line and column."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from vo.errors import AdqlError

#: Reserved words of ADQL 2.1 (section 2.1.3: SQL reserved words and ADQL function names)
#: that a regular identifier may not be. Keywords the grammar itself uses never reach the
#: identifier rule; these are the rest. DEC is left out on purpose: every sky catalog has a
#: column named dec, and clients (TOPCAT, pyvo users) write it unquoted.
_RESERVED_WORDS = """
ABSOLUTE ACTION ADD ALLOCATE ALTER ANY ARE ASSERTION AT AUTHORIZATION BEGIN BIT BIT_LENGTH
BOTH CASCADE CASCADED CATALOG CHARACTER CHARACTER_LENGTH CHAR_LENGTH CHECK CLOSE COLLATE
COLLATION COLUMN COMMIT CONNECT CONNECTION CONSTRAINT CONSTRAINTS CONTINUE CONVERT
CORRESPONDING CREATE CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER
CURSOR DATE DAY DEALLOCATE DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESCRIBE
DESCRIPTOR DIAGNOSTICS DISCONNECT DOMAIN DROP ESCAPE EXCEPTION EXEC EXECUTE EXTERNAL
EXTRACT FALSE FETCH FIRST FLOAT FOR FOREIGN FOUND GET GLOBAL GO GOTO GRANT HOUR IDENTITY
IMMEDIATE INDICATOR INITIALLY INPUT INSENSITIVE INSERT INT INTERVAL INTO ISOLATION KEY
LANGUAGE LAST LEADING LEVEL LOCAL MATCH MINUTE MODULE MONTH NAMES NATIONAL NCHAR NEXT NO
NULLIF NUMERIC OCTET_LENGTH OF ONLY OPEN OPTION OUTPUT OVERLAPS PAD PARTIAL POSITION
PRECISION PREPARE PRESERVE PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ REFERENCES
RELATIVE RESTRICT REVOKE ROLLBACK ROWS SCHEMA SCROLL SECOND SECTION SESSION SESSION_USER
SET SIZE SOME SPACE SQL SQLCODE SQLERROR SQLSTATE SUBSTRING SYSTEM_USER TABLE TEMPORARY
TIME TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING TRANSACTION TRANSLATE TRANSLATION TRIM TRUE
UNIQUE UNKNOWN UPDATE USAGE USER VALUE VALUES VARYING VIEW WHENEVER WORK WRITE YEAR ZONE
LIMIT
"""
RESERVED = frozenset(_RESERVED_WORDS.split())


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("vo.adql").joinpath("adql.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", maybe_placeholders=True,
                propagate_positions=True)


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, UnexpectedEOF):
        return "unexpected end of query"
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return "unexpected end of query"
        return f"unexpected {str(tok)!r}"
    return "syntax error"


def _reserved(tokens: Iterable[Token]) -> None:
    """Raise at the first identifier that is LIMIT or a reserved word."""
    for tok in tokens:
        if tok.type == "REGULAR_ID" and tok.upper() == "LIMIT":
            raise AdqlError("ADQL syntax error: LIMIT is not ADQL; write SELECT TOP n",
                            tok.line, tok.column)
        if tok.type == "REGULAR_ID" and tok.upper() in RESERVED:
            raise AdqlError(f"ADQL syntax error: {str(tok)!r} is a reserved word; quote it"
                            " as a delimited identifier", tok.line, tok.column)


def parse(text: str) -> Tree[Token]:
    """The syntax tree of ``text``; raises :class:`AdqlError` with line and column.

    Trees are cached by text (the translator only reads them): clients repeat queries.
    """
    if not text or not text.strip():
        raise AdqlError("empty query")
    return _parse(text)


@lru_cache(maxsize=512)
def _parse(text: str) -> Tree[Token]:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        # Reserved words first: "LIMIT 10" is best reported at LIMIT, not at 10.
        with suppress(UnexpectedInput):
            _reserved(_parser().lex(text))
        line, column = exc.line, exc.column
        if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken)
                                              and exc.token.type == "$END"):
            lines = text.rstrip().split("\n")  # point just after the last character
            line, column = len(lines), len(lines[-1]) + 1
        raise AdqlError(f"ADQL syntax error: {_describe(exc)}", line, column) from None
    # A valid parse may still use a reserved word as an identifier. Checked on the tree
    # (its identifier tokens, in source order) rather than by lexing the text a second
    # time, which cost as much as the parse itself.
    _reserved(sorted(tree.scan_values(lambda v: isinstance(v, Token)
                                      and v.type == "REGULAR_ID"),
                     key=lambda t: (t.line or 0, t.column or 0)))
    return tree


def syntax_check(text: str) -> None:
    """Raise :class:`AdqlError` unless ``text`` is syntactically valid ADQL 2.1."""
    parse(text)
