"""I3SuperDST (version 1): IceCube's compressed pulse series, unpacked to arrays.

Layout (``I3SuperDST::load_v1``): a stream of 16-bit charge stamps, a stream of 16-bit DOM
headers (one per readout), four run-length coded width streams (in-ice SLC/HLC, IceTop
SLC/HLC) and extra bytes (upper bits of IceTop's logarithmic charges). Readout times are
deltas from the previous readout, pulse times deltas from the previous pulse, all from
:data:`T_MIN`. After unpacking, pulses of one DOM are time-ordered and made not to overlap,
exactly as ``I3SuperDST::Unpack`` does, so times equal IceTray's to the nanosecond code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reco.i3live.binary import Reader

#: Earliest representable time [ns], relative to the readout window.
T_MIN = -512.0
_MAX_T_HEADER = (1 << 11) - 1  # 8 time bits + 3 slop bits in the header
_MAX_T = (1 << 8) - 1
_MAX_Q = (1 << 6) - 1
_LOG_STEP = 9.0 / ((1 << 14) - 1)


@dataclass(frozen=True)
class PulseMap:
    """An unpacked ``I3RecoPulseSeriesMap``: pulses ordered by DOM (string, om), then time.

    Attributes
    ----------
    string, om : ndarray of int
        OMKey of each pulse.
    time, charge, width : ndarray of float
        Pulse time [ns], charge [PE], width [ns].
    lc : ndarray of bool
        Local-coincidence (HLC) flag.
    keys : list of tuple of int
        The map's keys (string, om) in order; ``starts[i]:starts[i+1]`` are key i's pulses.
    starts : ndarray of int
        Offsets of each key's pulses, with a final ``len(time)``.
    """

    string: NDArray[np.int64]
    om: NDArray[np.int64]
    time: NDArray[np.float64]
    charge: NDArray[np.float64]
    width: NDArray[np.float64]
    lc: NDArray[np.bool_]
    keys: list[tuple[int, int]]
    starts: NDArray[np.int64]

    def select(self, keep: NDArray[np.bool_]) -> PulseMap:
        """The pulses where ``keep`` is true (keys left without pulses are dropped)."""
        key_index = np.repeat(np.arange(len(self.keys)), np.diff(self.starts))[keep]
        present, counts = np.unique(key_index, return_counts=True)
        return PulseMap(self.string[keep], self.om[keep], self.time[keep], self.charge[keep],
                        self.width[keep], self.lc[keep], [self.keys[int(k)] for k in present],
                        np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def _run_decode(codes: bytes) -> list[int]:
    """SuperDST's run-length code: low nibble the value, high nibbles the run length (LSB
    first) across successive bytes of the same value."""
    out: list[int] = []
    i = 0
    while i < len(codes):
        value = codes[i] & 0xF
        length = 0
        shift = 0
        while i < len(codes) and codes[i] & 0xF == value:
            length |= (codes[i] >> 4) << shift
            shift += 4
            i += 1
        out.extend([value] * length)
    return out


def _overflow(stamps: list[int], k: int, r: Reader) -> tuple[int, int]:
    """Sum 16-bit overflow words after stamp ``k`` (continuing while a word is saturated)."""
    total = 0
    while True:
        k += 1
        if k >= len(stamps):
            raise r.fail("charge-stamp stream ends inside an overflow")
        total += stamps[k]
        if stamps[k] != 0xFFFF:
            return total, k


def _read_streams(r: Reader) -> tuple[NDArray[np.uint16], NDArray[np.uint16],
                                      list[list[int]], bytes]:
    r.take(4)  # class information of the compact vector and its size codec
    n = r.compact_size()
    stamps = np.frombuffer(r.take(2 * n), dtype="<u2")
    r.take(2)  # class information of the DOM-header vector
    n = r.compact_size()
    headers = np.frombuffer(r.take(2 * n), dtype="<u2")
    r.take(2)  # class information of the byte vector
    widths = [_run_decode(r.take(r.compact_size())) for _ in range(4)]
    extra = r.take(r.compact_size())
    r.end()
    return stamps, headers, widths, extra


def decode_superdst(r: Reader) -> PulseMap:  # noqa: C901 - one loop over a bit-packed stream
    """Decode an I3SuperDST (class version 1) from ``r``, positioned after the preamble."""
    stamp_array, header_array, widths, extra = _read_streams(r)
    stamps: list[int] = stamp_array.tolist()  # Python ints: this loop is scalar work
    headers: list[int] = header_array.tolist()
    width_pos = [0, 0, 0, 0]
    extra_pos = 0
    rows: list[tuple[int, int, float, float, float, bool]] = []
    t_ref = T_MIN
    k = 0
    for header in headers:
        string, om = (header & 0x1FFF) >> 6, (header & 0x3F) + 1
        if k >= len(stamps):
            raise r.fail(f"charge stamps end before DOM ({string}, {om})'s readout")
        word = stamps[k]
        hlc = bool(word >> 14 & 1)
        stop = bool(word >> 15)
        icetop = om > 60
        stream = 2 * icetop + hlc
        timecode = (word & 0xFF) | ((header >> 13) << 8)
        chargecode = word >> 8 & 0x3F
        if timecode == _MAX_T_HEADER:
            extra_t, k = _overflow(stamps, k, r)
            timecode += extra_t
        if icetop:
            if extra_pos >= len(extra):
                raise r.fail("IceTop charge bytes exhausted")
            chargecode |= extra[extra_pos] << 6
            extra_pos += 1
        elif chargecode == _MAX_Q:
            extra_q, k = _overflow(stamps, k, r)
            chargecode += extra_q
        codes = [(timecode, chargecode)]
        while not stop:
            k += 1
            if k >= len(stamps):
                raise r.fail(f"DOM ({string}, {om})'s readout has no stop bit")
            word = stamps[k]
            stop = bool(word >> 15)
            timecode, chargecode = word & 0xFF, word >> 8 & 0x3F
            if timecode == _MAX_T:
                extra_t, k = _overflow(stamps, k, r)
                timecode += extra_t
            if chargecode == _MAX_Q:
                extra_q, k = _overflow(stamps, k, r)
                chargecode += extra_q
            codes.append((timecode, chargecode))
        k += 1
        t_ref += codes[0][0]
        t = t_ref
        for i, (tc, qc) in enumerate(codes):
            if i:
                t += tc
            if width_pos[stream] >= len(widths[stream]):
                raise r.fail(f"width stream {stream} exhausted")
            width = float(1 << widths[stream][width_pos[stream]])
            width_pos[stream] += 1
            charge = 10.0 ** (qc * _LOG_STEP - 2.0) if icetop else qc * 0.05 + 0.025
            rows.append((string, om, t, charge, width, hlc))
    if k != len(stamps):
        raise r.fail(f"{len(stamps) - k} charge stamp(s) left after the last readout")
    return _to_map(rows)


def _unoverlap(time: list[float], width: list[float]) -> None:
    """``I3SuperDST::Unpack``'s last pass on one DOM's time-ordered pulses, in place: a
    width never reaches past the next pulse; a pulse of zero width shares its neighbour's."""
    prev = -1
    merge = False
    n = len(time)
    for cur in range(n - 1):
        # IceTray keeps widths as float32; times here are whole or half nanoseconds below
        # 2^24, exact in float32, so the difference needs no rounding.
        width[cur] = min(width[cur], time[cur + 1] - time[cur])
        if width[cur] == 0 or merge:
            if prev >= 0:
                if width[prev] == 0 and width[cur] > 0:
                    width[prev] = width[cur]
                width[cur] = width[prev] / 2.0
                width[prev] = width[prev] / 2.0
                time[cur] = time[prev] + width[prev]
                merge = False
            else:
                merge = True
        else:
            merge = False
        prev = cur
    if merge and prev >= 0 and n > 1:
        cur = n - 1
        if width[prev] == 0 and width[cur] > 0:
            width[prev] = width[cur]
        width[cur] = width[prev] / 2.0
        width[prev] = width[prev] / 2.0
        time[cur] = time[prev] + width[prev]


def _to_map(rows: list[tuple[int, int, float, float, float, bool]]) -> PulseMap:
    if not rows:
        empty = np.zeros(0)
        return PulseMap(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty,
                        empty.astype(bool), [], np.zeros(1, dtype=np.int64))
    cols = list(zip(*rows, strict=True))
    string = np.asarray(cols[0], dtype=np.int64)
    om = np.asarray(cols[1], dtype=np.int64)
    time = np.asarray(cols[2], dtype=np.float64)
    order = np.lexsort((time, om, string))  # std::map<OMKey> order, then time (stable)
    string, om, time = string[order], om[order], time[order]
    charge = np.asarray(cols[3], dtype=np.float64)[order]
    width = np.asarray(cols[4], dtype=np.float64)[order]
    lc = np.asarray(cols[5], dtype=bool)[order]
    key_code = string * 100 + om
    starts = np.concatenate([[0], np.flatnonzero(np.diff(key_code)) + 1, [len(time)]])
    for a, b in itertools.pairwise(starts.tolist()):
        if b - a > 1:
            t, w = time[a:b].tolist(), width[a:b].tolist()
            _unoverlap(t, w)
            time[a:b], width[a:b] = t, w
    keys = [(int(string[a]), int(om[a])) for a in starts[:-1]]
    return PulseMap(string, om, time, charge, width, lc, keys, starts.astype(np.int64))
