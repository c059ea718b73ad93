"""I3Live messages read without IceTray.

An I3Live message (``realtimeEventData``, ``heseEvent16Data``, ...) carries IceCube's GCD and
physics frames as base64 + zlib compressed Python pickles of ``icecube.icetray.I3Frame``, the
same input SkyDriver hands to skymap_scanner. This package reads them with the standard library
and numpy only:

=================  ===========================================================================
``binary``         the byte reader (offsets in every error) and :class:`I3DecodeError`
``container``      the message JSON → pickles → I3Frame containers (key, type, blob)
``superdst``       the I3SuperDST pulse payload → per-DOM pulse arrays
``mask``           ``I3RecoPulseSeriesMapMask`` (a mask over another pulse series)
``objects``        ``I3EventHeader`` / ``I3Time``, ``I3Particle``, ``I3Double``
``message``        one call: :func:`decode_message` → :class:`DecodedMessage` → reco Event
=================  ===========================================================================

The binary layouts follow the public IceTray C++ (``I3Frame.cxx``, ``I3SuperDST.cxx``,
``I3MapOMKeyMask.cxx``, ``I3EventHeader.cxx``); no maintained Python package reads them
without IceTray itself, hence a small reader of our own.
"""

from reco.i3live.binary import I3DecodeError
from reco.i3live.message import DecodedMessage, decode_message, is_i3live_message

__all__ = ["DecodedMessage", "I3DecodeError", "decode_message", "is_i3live_message"]
