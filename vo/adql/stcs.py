"""STC-S strings of ADQL's ``REGION()``: Position, Circle, Box and Polygon in ICRS.

The subset of STC-S 1.33 (and of DALI's shapes) that names one simple region::

    Position [frame] [refpos] [flavor] ra dec
    Circle   [fillfactor f] [frame] [refpos] [flavor] ra dec radius
    Box      [fillfactor f] [frame] [refpos] [flavor] ra dec width height
    Polygon  [fillfactor f] [frame] [refpos] [flavor] ra1 dec1 ra2 dec2 ra3 dec3 ...

with an optional trailing ``unit deg``. The frame is ICRS (or left out: then ICRS); the
reference position is one of :data:`REFPOS` (they do not move a direction on the sky for
this purpose); the flavor SPHERICAL2. Keywords are read in any case. Anything else — other
frames, units, Union, Intersection, Not, Convex — is refused with a message that says what
is supported. Box widths are full widths, as in ADQL's BOX.

>>> parse_stcs("Circle ICRS 10 -20 0.5")
StcsShape(kind='circle', numbers=(10.0, -20.0, 0.5))
>>> parse_stcs("polygon icrs geocenter 1 2 3 4 5 6").kind
'polygon'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vo.errors import AdqlError

#: Shape keyword → (ADQL kind, how many numbers; None: pairs, at least three of them).
SHAPES = {"position": ("point", 2), "circle": ("circle", 3), "box": ("box", 4),
          "polygon": ("polygon", None)}

#: STC-S reference positions accepted (ignored: a direction in ICRS is the same for all).
REFPOS = ("barycenter", "geocenter", "heliocenter", "topocenter", "unknownrefpos")

#: Compound or other shapes of STC-S that REGION() does not take.
_REFUSED_SHAPES = ("union", "intersection", "not", "convex", "difference", "ellipse",
                   "sector", "allsky")

#: Frames of STC-S that REGION() refuses (only ICRS is taken).
_OTHER_FRAMES = ("fk4", "fk5", "j2000", "b1950", "galactic", "galactic_ii", "ecliptic",
                 "supergalactic", "geo_c", "geo_d", "unknownframe")

_SUPPORTED = "REGION takes an STC-S Position, Circle, Box or Polygon in ICRS"


@dataclass(frozen=True, slots=True)
class StcsShape:
    """A parsed STC-S region: its ADQL kind (point, circle, box, polygon) and numbers in
    degrees (centre, then radius or width and height; polygon vertices in order)."""

    kind: str
    numbers: tuple[float, ...]


def parse_stcs(text: str) -> StcsShape:
    """The shape of an STC-S string; :class:`AdqlError` saying why when it is not one
    REGION() takes."""
    words = text.split()
    if not words:
        raise AdqlError(f"{_SUPPORTED}, not an empty string")
    head = words[0].lower()
    if head in _REFUSED_SHAPES:
        raise AdqlError(f"{_SUPPORTED}; {words[0]} is not supported")
    if head not in SHAPES:
        raise AdqlError(f"{_SUPPORTED}; {words[0]!r} is not an STC-S shape")
    kind, count = SHAPES[head]
    rest = _skip_qualifiers(words[1:], head)
    if len(rest) >= 2 and rest[-2].lower() == "unit":
        if rest[-1].lower() != "deg":
            raise AdqlError(f"REGION: unit {rest[-1]} is not supported; give degrees")
        rest = rest[:-2]
    numbers = tuple(_number(w) for w in rest)
    if count is not None and len(numbers) != count:
        raise AdqlError(f"REGION: an STC-S {words[0]} takes {count} numbers, not "
                        f"{len(numbers)}")
    if count is None and (len(numbers) % 2 or len(numbers) < 6):
        raise AdqlError("REGION: an STC-S Polygon takes at least three pairs of numbers")
    return StcsShape(kind, numbers)


def _skip_qualifiers(words: list[str], shape: str) -> list[str]:
    """The words after the shape's fillfactor, frame, reference position and flavor."""
    i = 0
    if shape != "position" and i < len(words) and words[i].lower() == "fillfactor":
        i += 2
    if i < len(words) and words[i].lower() == "icrs":
        i += 1
    elif i < len(words) and words[i].lower() in _OTHER_FRAMES:
        raise AdqlError(f"REGION: frame {words[i]} is not supported; only ICRS")
    if i < len(words) and words[i].lower() in REFPOS:
        i += 1
    if i < len(words) and words[i].lower() == "spherical2":
        i += 1
    return words[i:]


def _number(word: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise AdqlError(f"REGION: {word!r} is not a number (or a supported STC-S "
                        "keyword)") from None
    if not math.isfinite(value):
        raise AdqlError(f"REGION: {word!r} is not a finite number")
    return value
