"""Parse ADQL text into a lark syntax tree; syntax errors carry line and column."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import suppress
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from vo.errors import AdqlError, LimitExceeded

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


_PARSER_LOCK = threading.Lock()


def _parser() -> Lark:
    """The LALR parser, built once (~1 s) by the first thread that needs it."""
    with _PARSER_LOCK:
        return _build_parser()


@lru_cache(maxsize=1)
def _build_parser() -> Lark:
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


#: Longest ADQL text accepted (characters). Real queries are a few hundred characters; a
#: 1.1 MB query took ~50 s to parse (issue 12), and its tree ~100 bytes per character.
MAX_QUERY_CHARS = 64 * 1024

#: Seconds a parse may take before it is abandoned.
MAX_PARSE_S = 2.0

#: Deepest syntax tree accepted. The translator recurses over the tree (a few frames a
#: level); 1000 ``AND`` terms or ``1+1+...`` make a tree ~1000 deep (the grammar is left
#: recursive) and overflowed Python's stack. 200 allows ~20 nested subqueries.
MAX_TREE_DEPTH = 200

#: Tokens fed between two looks at the parse clock.
_CLOCK_EVERY = 256

#: Bounds of the cache of syntax trees: entries, and tree nodes and tokens in all (a node
#: or token costs ~530 bytes with its position, measured: so ~20 MB). Texts longer than
#: ``CACHE_MAX_CHARS`` are not cached: clients repeat short queries, and one long tree
#: would push many out.
CACHE_ENTRIES = 512
CACHE_NODES = 40_000
CACHE_MAX_CHARS = 8 * 1024


class _TreeCache:
    """A thread-safe LRU map of query text → (tree, size in nodes), bounded in entries
    and in total size."""

    def __init__(self, entries: int, nodes: int) -> None:
        self.entries = entries
        self.nodes = nodes
        self.size = 0
        self._items: OrderedDict[str, tuple[Tree[Token], int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Tree[Token] | None:
        with self._lock:
            item = self._items.get(text)
            if item is None:
                return None
            self._items.move_to_end(text)
            return item[0]

    def put(self, text: str, tree: Tree[Token], size: int) -> None:
        """Keep ``tree`` unless it alone is over the size bound; evict the least recently
        used entries until both bounds hold."""
        if size > self.nodes:
            return
        with self._lock:
            old = self._items.pop(text, None)
            if old is not None:
                self.size -= old[1]
            self._items[text] = (tree, size)
            self.size += size
            while len(self._items) > self.entries or self.size > self.nodes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.size -= dropped

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


CACHE = _TreeCache(CACHE_ENTRIES, CACHE_NODES)

#: Where texts longer than its first member are parsed instead of this thread: set by
#: :mod:`vo.adql.parsepool` while a pool of parser processes runs.
OFFLOAD: tuple[int, Callable[[str], tuple[Tree[Token], int]]] | None = None


def parse(text: str) -> Tree[Token]:
    """The syntax tree of ``text``; raises :class:`AdqlError` with line and column, or
    :class:`LimitExceeded` for a text too long, too slow to parse or nested too deeply.

    Trees are cached by text (the translator only reads them): clients repeat queries.
    """
    if not text or not text.strip():
        raise AdqlError("empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise LimitExceeded(f"the query is {len(text)} characters long; this service "
                            f"accepts up to {MAX_QUERY_CHARS}")
    tree = CACHE.get(text)
    if tree is None:
        offload = OFFLOAD
        if offload is not None and len(text) > offload[0]:
            tree, size = offload[1](text)
        else:
            tree, size = _parse(text)
        if len(text) <= CACHE_MAX_CHARS:
            CACHE.put(text, tree, size)
    return tree


def _lalr(text: str) -> Tree[Token]:
    """Run the LALR parser, looking at the clock every few tokens (``MAX_PARSE_S`` of this
    thread's CPU time: a busy server does not make a short query fail)."""
    parser = _parser()
    deadline = time.thread_time() + MAX_PARSE_S
    ip = parser.parse_interactive(text)
    last: Token | None = None
    for n, tok in enumerate(ip.iter_parse(), 1):
        last = tok
        if n % _CLOCK_EVERY == 0 and time.thread_time() > deadline:
            raise LimitExceeded(f"the query took more than {MAX_PARSE_S:g} s to parse")
    feed_eof: Callable[[Token | None], object] = ip.feed_eof  # lark leaves it unannotated
    tree = feed_eof(last)
    assert isinstance(tree, Tree)
    return tree


def _walk(tree: Tree[Token]) -> tuple[int, list[Token]]:
    """Size (nodes and tokens) and identifier tokens of ``tree``, without recursion; raises
    :class:`LimitExceeded` past ``MAX_TREE_DEPTH``."""
    size = 0
    ids: list[Token] = []
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        size += 1
        if isinstance(node, Tree):
            if depth > MAX_TREE_DEPTH:
                raise LimitExceeded(f"the query is nested too deeply (more than "
                                    f"{MAX_TREE_DEPTH} levels): use fewer terms or "
                                    "subqueries")
            stack.extend((c, depth + 1) for c in node.children if c is not None)
        elif isinstance(node, Token) and node.type == "REGULAR_ID":
            ids.append(node)
    return size, ids


def _parse(text: str) -> tuple[Tree[Token], int]:
    """(tree, size) of ``text``; see :func:`parse`."""
    try:
        tree = _lalr(text)
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
    except RecursionError:
        raise LimitExceeded("the query is nested too deeply") from None
    # A valid parse may still use a reserved word as an identifier. Checked on the tree
    # (its identifier tokens, in source order) rather than by lexing the text a second
    # time, which cost as much as the parse itself.
    size, ids = _walk(tree)
    _reserved(sorted(ids, key=lambda t: (t.line or 0, t.column or 0)))
    return tree, size


def syntax_check(text: str) -> None:
    """Raise :class:`AdqlError` unless ``text`` is syntactically valid ADQL 2.1."""
    parse(text)
