"""ADQL 2.1: a grammar (lark, LALR), checks against the published tables, and a translator
to PostgreSQL with bound parameters.

Why lark and a grammar of our own: the maintained Python ADQL parsers we looked at
(``queryparser-python3``) target MySQL/PostgreSQL dialects through ANTLR and do not produce
a syntax tree we can translate geometry from; lark is a maintained parser generator with no
native dependencies, its LALR parser is fast (a query parses in well under a millisecond)
and reports errors with line and column.
"""

from vo.adql.parser import parse, syntax_check

__all__ = ["parse", "syntax_check"]
