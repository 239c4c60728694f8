"""The API's report use case: a run's JSON report, and its HTML report through a link.

>>> get_report("r1", account="desk-a", runs=runs, objects=store, links=links,
...            bucket="reports")  # doctest: +SKIP
{'run_id': 'r1', 'report': {...}, 'html_url': 'https://...', 'expires_in': 300}
"""

from __future__ import annotations

import json
from typing import Any

from trading.errors import RunNotFoundError
from trading.service import keys
from trading.service.errors import ReportNotFoundError
from trading.service.ports import ObjectLinks, ObjectNotFoundError, ObjectStore, RunReader
from trading.service.runs import RUN_ID_PATTERN, owned_run

REPORT_URL_SECONDS = 300


def get_report(
    run_id: str,
    *,
    account: str,
    runs: RunReader,
    objects: ObjectStore,
    links: ObjectLinks,
    bucket: str,
) -> dict[str, Any]:
    """The ``account``'s run's ``report.json`` and a presigned URL of its ``report.html``.

    Raises :class:`ReportNotFoundError` for an unknown run, another account's run (the same
    answer: nothing leaks) or one without a report yet.
    """
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise ReportNotFoundError(f"no report for run {run_id}")
    try:
        owned_run(run_id, account=account, runs=runs)
    except RunNotFoundError:
        raise ReportNotFoundError(f"no report for run {run_id}") from None
    try:
        document = objects.read(bucket, keys.report_key(run_id, keys.REPORT_JSON))
    except ObjectNotFoundError:
        raise ReportNotFoundError(f"no report for run {run_id}") from None
    return {
        "run_id": run_id,
        "report": json.loads(document),
        "html_url": links.download_url(
            bucket, keys.report_key(run_id, keys.REPORT_HTML), REPORT_URL_SECONDS
        ),
        "expires_in": REPORT_URL_SECONDS,
    }
