"""``I3RecoPulseSeriesMapMask``: a pulse series defined as a bit mask over another one.

A mask names its source (a pulse map or another mask), holds one bit per source key and, for
each key whose bit is set, one bit per pulse (``I3MapOMKeyMask.cxx``). Bits are bytes, least
significant bit first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reco.i3live.binary import Reader
from reco.i3live.superdst import PulseMap


@dataclass(frozen=True)
class Mask:
    """A decoded mask: its source key, the key bits, one pulse-bit array per set key."""

    source: str
    key_bits: NDArray[np.bool_]
    element_bits: list[NDArray[np.bool_]]
    where: str

    def apply(self, source: PulseMap) -> PulseMap:
        """The pulses of ``source`` this mask keeps (``I3RecoPulseSeriesMapMask::Apply``)."""
        if len(self.key_bits) != len(source.keys):
            raise ValueError(f"{self.where}: mask over {len(self.key_bits)} keys, but its "
                             f"source {self.source!r} has {len(source.keys)}")
        keep = np.zeros(len(source.time), dtype=bool)
        elements = iter(self.element_bits)
        for i in np.flatnonzero(self.key_bits):
            bits = next(elements)
            a, b = int(source.starts[i]), int(source.starts[i + 1])
            if len(bits) != b - a:
                string, om = source.keys[int(i)]
                raise ValueError(f"{self.where}: mask of OM({string},{om}) has {len(bits)} "
                                 f"bits for {b - a} pulses")
            keep[a:b] = bits
        return source.select(keep)


def _bitmask_raw(r: Reader) -> tuple[bytes, int]:
    """One serialised bit mask: its bytes and its number of bits."""
    size = r.u16()
    padding = r.u8()
    if padding >= 8 * max(size, 1) or size == 0:
        raise r.fail(f"bit mask of {size} byte(s) with {padding} padding bit(s)")
    return r.take(size), 8 * size - padding


def _bits(raw: bytes, n: int) -> NDArray[np.bool_]:
    bits: NDArray[np.bool_] = np.unpackbits(np.frombuffer(raw, dtype=np.uint8),
                                            bitorder="little").astype(bool)[:n]
    return bits


def decode_mask(r: Reader, version: int) -> Mask:
    """Decode a mask (class version 2; version 1 carried a time reference) from ``r``."""
    if version not in (1, 2):
        raise r.fail(f"I3RecoPulseSeriesMapMask version {version}; only 1 and 2 are read")
    source = r.string(4096)
    if version == 1:
        r.take(4)  # the time reference, unused
    r.take(2)  # class information of the bit mask
    key_bits = _bits(*_bitmask_raw(r))
    r.take(2)  # class information of the vector
    n = r.u32()
    if n != int(key_bits.sum()):
        raise r.fail(f"{n} pulse masks for {int(key_bits.sum())} selected keys")
    raws = [_bitmask_raw(r) for _ in range(n)]
    r.end()
    # one unpacking for all pulse masks, then split (each starts on a byte boundary)
    flat = _bits(b"".join(raw for raw, _ in raws), 8 * sum(len(raw) for raw, _ in raws))
    offsets = np.cumsum([0] + [8 * len(raw) for raw, _ in raws])
    elements = [flat[o:o + nbits] for o, (_, nbits) in zip(offsets, raws, strict=False)]
    return Mask(source, key_bits, elements, r.where)
