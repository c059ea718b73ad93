"""The Jinja2 environment of the VO XML documents (UWS jobs, VOSI) in ``vo/templates``.

Autoescaping is on for every template, so a value is written as XML character data or
attribute content without the caller escaping it; ``|xattr`` further writes tab, line feed
and carriage return as character references in attribute values (as
``xml.sax.saxutils.quoteattr`` does), which a parser would otherwise normalise to spaces.
Undefined names are errors (``StrictUndefined``).
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup, escape

__all__ = ["render"]

_ATTR_WHITESPACE = {9: "&#9;", 10: "&#10;", 13: "&#13;"}


def xattr(value: object) -> Markup:
    """``value`` escaped for a double-quoted XML attribute, whitespace kept exactly."""
    return Markup(str(escape(value)).translate(_ATTR_WHITESPACE))


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("vo", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    # The templates ship with the package: no stat of each file on every render (that ran
    # on the event loop for every UWS document: ~3.5 % of its samples under load).
    auto_reload=False,
)
ENV.filters["xattr"] = xattr


def render(name: str, **context: Any) -> str:
    """The template ``vo/templates/<name>`` rendered with ``context``."""
    return ENV.get_template(name).render(**context)
