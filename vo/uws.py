"""UWS 1.1 documents of TAP ``/tap/async``: the job, the job list, results, parameters.

Pure functions of a stored :class:`~vo.uws_storage.Job`; the jobs themselves live in the
database (``vo.uws_storage``) and run under ``vo.uws_service``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from vo.errors import VoError
from vo.uws_schema import PHASES
from vo.uws_storage import Job

__all__ = ["PHASES", "job_document", "job_list", "owner_label", "parameters_document",
           "parse_time", "results_document"]

_NS = ('xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"'
       ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def owner_label(owner: str | None) -> str | None:
    """The ownerId shown: the first 12 hex digits of the token's SHA-256 (None: anonymous).

    As ``catalog.auth`` logs a token; the whole digest would help an offline guess.
    """
    return None if owner is None else owner[:12]


def parse_time(raw: str) -> datetime:
    try:
        t = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise VoError(f"{raw!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _el(tag: str, value: str | None) -> str:
    if value is None:
        return f'<uws:{tag} xsi:nil="true"/>'
    return f"<uws:{tag}>{escape(value)}</uws:{tag}>"


def job_document(job: Job, base: str) -> str:
    params = "".join(f"<uws:parameter id={quoteattr(k.lower())}>{escape(str(v))}"
                     "</uws:parameter>" for k, v in job.params.items())
    params += "".join(f"<uws:parameter id={quoteattr(k)} byReference=\"true\">"
                      f"{escape(f'{base}/{job.id}/parameters')}</uws:parameter>"
                      for k in job.uploads)
    results = ""
    if job.phase == "COMPLETED":
        results = (f'<uws:result id="result" xlink:type="simple" '
                   f'xlink:href={quoteattr(f"{base}/{job.id}/results/result")} '
                   f"mime-type={quoteattr(job.media_type or '')}/>")
    error = ""
    if job.phase == "ERROR":
        error = ('<uws:errorSummary type="fatal" hasDetail="true">'
                 f"{_el('message', job.error)}</uws:errorSummary>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<uws:job {_NS} version="1.1">{_el("jobId", job.id)}'
            f'{_el("runId", job.run_id) if job.run_id else ""}'
            f'{_el("ownerId", owner_label(job.owner))}'
            f'{_el("phase", job.phase)}{_el("quote", None)}'
            f'{_el("creationTime", _iso(job.created))}{_el("startTime", _iso(job.started))}'
            f'{_el("endTime", _iso(job.ended))}'
            f'{_el("executionDuration", str(job.duration))}'
            f'{_el("destruction", _iso(job.destruction))}'
            f"<uws:parameters>{params}</uws:parameters><uws:results>{results}</uws:results>"
            f"{error}</uws:job>\n")


def job_list(jobs: list[Job], base: str) -> str:
    refs = ""
    for j in jobs:
        refs += (f'<uws:jobref id="{j.id}" xlink:href={quoteattr(f"{base}/{j.id}")}>'
                 f'{_el("phase", j.phase)}{_el("runId", j.run_id) if j.run_id else ""}'
                 f'{_el("creationTime", _iso(j.created))}</uws:jobref>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:jobs {_NS} version="1.1">{refs}'
            "</uws:jobs>\n")


def results_document(job: Job, base: str) -> str:
    inner = ""
    if job.phase == "COMPLETED":
        inner = (f'<uws:result id="result" xlink:type="simple" '
                 f'xlink:href={quoteattr(f"{base}/{job.id}/results/result")}/>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:results {_NS}>{inner}'
            "</uws:results>\n")


def parameters_document(job: Job) -> str:
    params = "".join(f"<uws:parameter id={quoteattr(k.lower())}>{escape(str(v))}"
                     "</uws:parameter>" for k, v in job.params.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<uws:parameters {_NS}>{params}'
            "</uws:parameters>\n")
