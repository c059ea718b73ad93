"""A bounds-checked little-endian byte reader whose errors name the frame and the offset."""

from __future__ import annotations

import struct


class I3DecodeError(ValueError):
    """A frame or object that cannot be decoded: truncated, corrupt or of an unknown layout.

    Attributes
    ----------
    frame : str
        Where it happened, e.g. ``"frame 3 (Q) / I3SuperDST"``.
    offset : int
        Byte offset within that frame's (or object's) decompressed bytes.
    reason : str
        What was wrong.
    """

    def __init__(self, frame: str, offset: int, reason: str) -> None:
        super().__init__(f"{frame}: {reason} at byte {offset}")
        self.frame = frame
        self.offset = offset
        self.reason = reason


class Reader:
    """Sequential reader over ``data`` for the object named ``where``.

    Examples
    --------
    >>> r = Reader(b"\\x02\\x00\\x00\\x00ab", "demo")
    >>> r.string()
    'ab'
    >>> r.u8()
    Traceback (most recent call last):
    ...
    reco.i3live.binary.I3DecodeError: demo: truncated: need 1 byte(s), 0 left at byte 6
    """

    def __init__(self, data: bytes, where: str, base: int = 0) -> None:
        self.data = data
        self.where = where
        self.pos = 0
        self.base = base

    def fail(self, reason: str) -> I3DecodeError:
        """An :class:`I3DecodeError` at the current position."""
        return I3DecodeError(self.where, self.base + self.pos, reason)

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated: need {n} byte(s), {len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _unpack(self, fmt: str) -> int | float:
        size = struct.calcsize(fmt)
        value: int | float = struct.unpack(fmt, self.take(size))[0]
        return value

    def u8(self) -> int:
        """An unsigned byte."""
        return int(self._unpack("<B"))

    def u16(self) -> int:
        """A little-endian uint16."""
        return int(self._unpack("<H"))

    def u32(self) -> int:
        """A little-endian uint32."""
        return int(self._unpack("<I"))

    def i32(self) -> int:
        """A little-endian int32."""
        return int(self._unpack("<i"))

    def i64(self) -> int:
        """A little-endian int64."""
        return int(self._unpack("<q"))

    def f64(self) -> float:
        """A little-endian IEEE double."""
        return float(self._unpack("<d"))

    def string(self, limit: int = 1 << 20) -> str:
        """A string stored as uint32 length + bytes."""
        n = self.u32()
        if n > limit:
            raise self.fail(f"string length {n} exceeds {limit}")
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("string is not UTF-8") from None

    def expect(self, value: bytes, what: str) -> None:
        """Consume ``value`` exactly, else fail naming ``what``."""
        start = self.pos
        got = self.take(len(value))
        if got != value:
            self.pos = start
            raise self.fail(f"unexpected bytes for {what}")

    def end(self) -> None:
        """Fail if bytes are left over."""
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} unread byte(s) at the end")

    def compact_size(self) -> int:
        """SuperDST's variable-width size: one byte up to 246, else a tag + 1..8 bytes."""
        tag = self.u8()
        if tag < 0xFF - 8:
            return tag
        n = 0xFF - tag
        return int.from_bytes(self.take(n), "little")
