"""A plain-text GCN circular draft for a revision: what a shifter edits and submits.

The wording is nufair's own. It states the facts of the revision (time, direction with
its 90 % and 50 % radii, energy, signalness, false-alarm rate) and, for an update or a
retraction, which notice it replaces. Given the revision's counterpart candidates
(:mod:`catalog.storage.counterparts`), it lists, per catalogue, the sources in the 90 %
region ("Fermi-LAT 4FGL sources in the 90 % region: ..."), blazar classes first. A draft
for test or simulation traffic (:attr:`NoticeInput.test`) is headed as a TEST, says so in
its subject and first lines, and credits no one with an observation.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC

from catalog.counterparts.models import CounterpartPublic
from catalog.notices.model import NoticeInput, RenderedNotice, file_stem

MEDIA_TYPE = "text/plain; charset=utf-8"

_STREAM_LABEL = {"gold": "Gold", "bronze": "Bronze", "cascade": "Cascade"}


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "not available" if value is None else f"{value:{spec}}{unit}"


#: The lines that open a test draft, before anything else is read.
TEST_WARNING = ("THIS IS A TEST. The event below is simulated ({observatory}): it is not a",
                "real observation and must not be submitted or followed up.")


def _test_header(n: NoticeInput, subject: str, body: list[str]) -> tuple[str, list[str]]:
    """The subject and body of a test draft: marked TEST at the top of both."""
    warning = [line.format(observatory=n.observatory) for line in TEST_WARNING]
    return f"TEST: {subject}", [*warning, "", *body]


def _counterpart(c: CounterpartPublic) -> str:
    """``4FGL J0509.4+0542 (bll, TXS 0506+056, 0.11 deg)``: one source of the list."""
    what = ", ".join(x for x in (c.source_class, c.association) if x) or "unassociated"
    how = "" if c.match == "position" else ", error ellipse overlaps"
    return f"{c.source_name} ({what}, {c.separation_deg:.2f} deg{how})"


def counterpart_lines(counterparts: Sequence[CounterpartPublic],
                      labels: Sequence[str]) -> list[str]:
    """The paragraphs naming the sources in the 90 % region, one per catalogue ``labels``
    (each source: name, class, association, distance from the best fit), wrapped."""
    lines: list[str] = []
    for label in labels:
        found = [c for c in counterparts if c.level == 90 and c.catalogue_label == label]
        found.sort(key=lambda c: (not c.blazar, c.match != "position", c.separation_deg))
        if not found:
            text = f"No {label} source lies in the 90 % region."
        else:
            parts = [_counterpart(c) for c in found]
            text = f"{label} sources in the 90 % region: {'; '.join(parts)}."
        lines += ["", *textwrap.wrap(text, 78, break_on_hyphens=False)]
    return lines


def build(n: NoticeInput, counterparts: Sequence[CounterpartPublic] | None = None,
          catalogue_labels: Sequence[str] = ("Fermi-LAT 4FGL",)) -> str:
    """The circular draft of ``n`` (ASCII-safe plain text, lines under 80 characters).

    ``counterparts`` (None: not searched, nothing is said) are the revision's stored
    candidates, by default those the notice input carries (:attr:`NoticeInput.counterparts`);
    ``catalogue_labels`` the catalogues searched.
    """
    if counterparts is None:
        counterparts = n.counterparts
    name = n.name or f"IceCube event {n.run_id}:{n.event_id}"
    label = _STREAM_LABEL.get(n.stream, n.stream)
    when = n.event_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-4] + " UTC"
    if n.kind == "retraction":
        subject = f"{name}: retraction of the IceCube {label} alert"
        body = [
            f"The IceCube alert {name} (run {n.run_id}, event {n.event_id}, {when}) is",
            "retracted.",
            "",
            f"Reason: {n.retraction_reason or 'no reason given'}",
            "",
            "Earlier notices of this event should no longer be used for follow-up.",
        ]
    else:
        what = "initial" if n.kind == "initial" else f"updated (revision {n.revision})"
        who = "simulated" if n.test else "IceCube observation of a"
        subject = f"{name}: {who} high-energy neutrino candidate " \
                  f"{'track-like' if n.stream != 'cascade' else 'cascade'} event"
        body = [
            f"This is the {what} localisation of {'a simulated' if n.test else 'an IceCube'}"
            f" {label} alert event",
            f"recorded on {when} (run {n.run_id}, event {n.event_id}).",
            "",
            f"Date:            {n.event_time.astimezone(UTC):%Y-%m-%d}",
            f"Time:            {when[11:]}",
            f"RA:              {_fmt(n.ra, '.2f', ' deg')} "
            f"(+{_fmt(n.r90_deg, '.2f')}, -{_fmt(n.r90_deg, '.2f')} deg, 90% PSF containment)"
            " J2000",
            f"Dec:             {_fmt(n.dec, '.2f', ' deg')} "
            f"(+{_fmt(n.r90_deg, '.2f')}, -{_fmt(n.r90_deg, '.2f')} deg, 90% PSF containment)"
            " J2000",
            f"50% radius:      {_fmt(n.r50_deg, '.2f', ' deg')}",
            f"Energy:          {_fmt(n.energy_tev, '.1f', ' TeV')} (most probable)",
            f"Signalness:      {_fmt(n.signalness, '.3f')}",
            f"FAR:             {_fmt(n.far_per_year, '.3f', ' per year')}",
            "",
            "The uncertainties are statistical only. Follow-up observations are",
            "encouraged.",
        ]
        if counterparts is not None:
            body += counterpart_lines(counterparts, catalogue_labels)
    for c in n.citations:
        body += ["", f"This notice {c.relation}:", f"  {c.ivorn}"]
    title = "GCN CIRCULAR"
    if n.test:
        title = "GCN CIRCULAR -- TEST"
        subject, body = _test_header(n, subject, body)
    text = "\n".join([f"TITLE:   {title}", f"SUBJECT: {subject}", "", *body, ""])
    return text


def render(n: NoticeInput, counterparts: Sequence[CounterpartPublic] | None = None
           ) -> RenderedNotice:
    """The circular draft of ``n`` as a stored notice (UTF-8 ``.txt``)."""
    return RenderedNotice("circular", MEDIA_TYPE, f"{file_stem(n)}.txt",
                          build(n, counterparts).encode("utf-8"))
