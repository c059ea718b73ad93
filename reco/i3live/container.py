"""The message JSON → pickled frames → I3Frame containers.

An I3Live message holds ``[stop, text]`` pairs, ``text`` being base64 of zlib of a Python
pickle of ``icecube.icetray.I3Frame``. The pickle is never executed: :mod:`pickletools` lists
its opcodes and we take the one string that holds the frame's bytes (``[i3]`` …), so a hostile
pickle cannot run code here. The frame container (``I3Frame::save``, versions 5 and 6) is a
tag, a version, the stream, and ``key, type name, blob`` triples; each blob is decoded later by
the module that knows its type.
"""

from __future__ import annotations

import base64
import binascii
import pickletools
import zlib
from dataclasses import dataclass
from typing import Any

from reco.i3live.binary import I3DecodeError, Reader

#: Largest decompressed frame accepted (a calibration diff is ~0.7 MB; guards zlib bombs).
MAX_FRAME_BYTES = 16 << 20
#: The pickle's class: ``I3Frame`` of the (old or new) icetray Python module.
FRAME_CLASSES = frozenset({"icecube.icetray I3Frame", "icecube._icetray I3Frame"})
_STRING_OPS = frozenset({"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINSTRING",
                         "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"})


@dataclass(frozen=True)
class Blob:
    """One frame object, still serialised.

    Attributes
    ----------
    key, type_name : str
        The frame key and the C++ type IceTray wrote.
    data : bytes
        The serialised object.
    offset : int
        Where ``data`` starts in the frame's bytes (for error messages).
    """

    key: str
    type_name: str
    data: bytes
    offset: int


@dataclass(frozen=True)
class Frame:
    """One I3Frame: its stream letter (``G``, ``C``, ``D``, ``Q``, ``P``) and its objects."""

    index: int
    stop: str
    objects: dict[str, Blob]

    @property
    def name(self) -> str:
        """``frame N (S)`` for error messages."""
        return f"frame {self.index} ({self.stop})"


def frame_pairs(message: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``[stop, base64]`` pairs of a message (``value.data.frames`` or ``value.data``)."""
    value = message.get("value", message)
    data = value.get("data") if isinstance(value, dict) else None
    if isinstance(data, dict):
        data = data.get("frames")
    if not isinstance(data, list) or not data:
        raise I3DecodeError("message", 0, "no frames (expected value.data.frames)")
    pairs = []
    for i, item in enumerate(data):
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not all(isinstance(x, str) for x in item)):
            raise I3DecodeError(f"frame {i}", 0, "not a [stop, base64] pair")
        pairs.append((str(item[0]), str(item[1])))
    return pairs


def unwrap(index: int, stop: str, text: str) -> bytes:
    """base64 → zlib → the frame bytes inside the pickle."""
    where = f"frame {index} ({stop})"
    try:
        packed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise I3DecodeError(where, 0, "not valid base64") from None
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, MAX_FRAME_BYTES)
        if inflater.unconsumed_tail:
            raise I3DecodeError(where, 0, f"decompresses to more than {MAX_FRAME_BYTES} bytes")
        if not inflater.eof:
            raise I3DecodeError(where, len(raw), "zlib stream truncated")
    except zlib.error as exc:
        raise I3DecodeError(where, 0, f"not a zlib stream ({exc})") from None
    return frame_bytes(raw, where)


def frame_bytes(pickle_data: bytes, where: str) -> bytes:
    """The ``[i3]`` string of an I3Frame pickle, found without unpickling."""
    cls: str | None = None
    try:
        for op, arg, pos in pickletools.genops(pickle_data):
            if op.name == "GLOBAL" and cls is None:
                cls = str(arg)
                if cls not in FRAME_CLASSES:
                    raise I3DecodeError(where, pos or 0, f"pickle of {cls!r}, not an I3Frame")
            elif op.name in _STRING_OPS and cls is not None:
                if not isinstance(arg, (str, bytes)):
                    continue
                raw = arg.encode("latin-1") if isinstance(arg, str) else arg
                if raw[:4] == b"[i3]":
                    return raw
    except I3DecodeError:
        raise
    except (ValueError, UnicodeEncodeError) as exc:  # pickletools on a broken pickle
        raise I3DecodeError(where, 0, f"broken pickle ({exc})") from None
    raise I3DecodeError(where, 0, "pickle holds no I3Frame bytes")


def parse_frame(index: int, stop: str, data: bytes) -> Frame:
    """Read an I3Frame container of version 5 or 6."""
    r = Reader(data, f"frame {index} ({stop})")
    r.expect(b"[i3]", "the [i3] tag")
    version = r.u32()
    if version not in (5, 6):
        raise r.fail(f"frame version {version}; only 5 and 6 are read")
    r.take(2)  # the archive's class information for I3Frame::Stream
    letter = chr(r.u8())
    if letter != stop:
        raise r.fail(f"stream {letter!r} differs from the message's {stop!r}")
    n = r.u32()
    if n > 10_000:
        raise r.fail(f"{n} frame objects is not plausible")
    objects: dict[str, Blob] = {}
    for _ in range(n):
        key = r.string(4096)
        type_name = r.string(4096)
        size = r.u32()
        start = r.pos
        objects[key] = Blob(key, type_name, r.take(size), start)
    r.take(4)  # the CRC (not verified: the zlib stream already carries its own check)
    r.end()
    return Frame(index, stop, objects)


def read_frames(message: dict[str, Any], stops: str = "QP") -> list[Frame]:
    """The frames of a message on the streams ``stops``, parsed into containers (the GCD
    frames hold diffs against a baseline file the message lacks, so by default they are
    left unread)."""
    return [parse_frame(i, stop, unwrap(i, stop, text))
            for i, (stop, text) in enumerate(frame_pairs(message)) if stop in stops]
