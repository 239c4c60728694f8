"""Where a run's objects live: the one place that names every S3 key the workflow writes.

Market data bucket: ``raw/`` (uploads, never modified: ``raw/<account>/...`` an account's,
a file right under ``raw/`` the operator's), ``corporate-actions/`` (corporate actions files
a run names), ``curated/<run_id>/{bars.csv, adjustments.json}``,
``rejected/<run_id>/<file name>.jsonl``, ``repaired/<run_id>/<file name>.jsonl``,
``signals/<run_id>/signals.json``, ``accounts/<account>/history/<run_id>.csv`` (a live
account's recent bars of a run's symbols), ``api/batches/<account>/<run_id>/<digest>.jsonl``
(a ``POST /market-data`` batch) and the ledger ``ledger/<run_id>/{orders.jsonl, fills.jsonl,
trades.json, equity.json}``. Reports bucket: ``reports/<run_id>/{report.json, report.html,
trades.csv, equity.csv}``.
"""

from __future__ import annotations

import re
from posixpath import basename

RAW_PREFIX = "raw/"
_ACCOUNT_FOLDER = re.compile(r"raw/(?P<account>[a-z0-9][a-z0-9_-]{0,63})/.+")
"""``raw/<account>/<rest>``: an account id (see ``trading.service.access``) as first folder."""


class AccountMismatchError(ValueError):
    """A run names an account other than the one whose folder its object is in."""


def account_of(key: str) -> str | None:
    """The account an object under ``raw/`` belongs to (``raw/<account>/...``), or None for a
    file right under ``raw/`` (the operator's).

    >>> account_of("raw/desk-a/2024/bars.csv"), account_of("raw/bars.csv")
    ('desk-a', None)
    """
    found = _ACCOUNT_FOLDER.fullmatch(key)
    return found.group("account") if found else None


def run_owner(key: str, account: str | None) -> str | None:
    """The account a run on ``key`` belongs to: its folder's, else the one its settings trade
    (``account``). Raises :class:`AccountMismatchError` when the two differ."""
    folder = account_of(key)
    if folder is not None and account is not None and account != folder:
        raise AccountMismatchError(
            f"account {account!r} cannot run on {key}: the object is {folder!r}'s"
        )
    return folder or account


def curated_key(run_id: str) -> str:
    """The run's validated bars (CSV)."""
    return f"curated/{run_id}/bars.csv"


def adjustments_key(run_id: str) -> str:
    """The corporate actions the run applied to its bars and those it skipped (JSON)."""
    return f"curated/{run_id}/adjustments.json"


def corporate_actions_key(digest: str, file_name: str) -> str:
    """Where ``stp run`` puts a corporate actions file, named by its content digest (a run's
    setting keeps naming the file it used). Not under ``raw/``: it starts no run."""
    return f"corporate-actions/{digest}/{basename(file_name)}"


def rejected_key(run_id: str, source_key: str) -> str:
    """The rejected rows of ``source_key``, one JSON object per line with its reasons."""
    return f"rejected/{run_id}/{basename(source_key)}.jsonl"


def repaired_key(run_id: str, source_key: str) -> str:
    """The rows of ``source_key`` kept after a float-noise repair, with what was changed."""
    return f"repaired/{run_id}/{basename(source_key)}.jsonl"


def signals_key(run_id: str) -> str:
    """The run's non-zero signals per symbol."""
    return f"signals/{run_id}/signals.json"


def history_key(account: str, run_id: str) -> str:
    """The recent bars of run ``run_id``'s symbols (CSV) in a live account, the warm-up of the
    next run's signals once the run commits (the account's clock names it per symbol)."""
    return f"accounts/{account}/history/{run_id}.csv"


def batch_key(account: str, run_id: str, digest: str) -> str:
    """A batch of bars posted to the API (JSON Lines), named by its account, its run and its
    content digest.

    Not under ``raw/``: the API starts its run itself, and an upload trigger must not start
    a second one."""
    return f"api/batches/{account}/{run_id}/{digest}.jsonl"


def upload_key(account: str, upload_id: str, file_name: str) -> str:
    """Where a presigned upload of ``account`` lands: under its folder of ``raw/``, so the
    upload trigger starts its run, and the run is the account's."""
    return f"raw/{account}/uploads/{upload_id}/{file_name}"


def ledger_key(run_id: str, name: str) -> str:
    """One object of the run's trade ledger (``orders.jsonl``, ``equity.json``...)."""
    return f"ledger/{run_id}/{name}"


REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
TRADES_CSV = "trades.csv"
EQUITY_CSV = "equity.csv"
REPORT_FILES = (REPORT_JSON, REPORT_HTML, TRADES_CSV, EQUITY_CSV)
"""Every object AnalyzePerformance writes under ``reports/<run_id>/``."""


def report_key(run_id: str, name: str) -> str:
    """One object of the run's report (``report.json``, ``report.html``...)."""
    return f"reports/{run_id}/{name}"


# --- Sweeps (the research workflow), in the reports bucket ---------------------------------

SWEEP_LEADERBOARD_JSON = "leaderboard.json"
SWEEP_LEADERBOARD_CSV = "leaderboard.csv"
SWEEP_REPORT_HTML = "report.html"


def sweep_prefix(sweep_id: str) -> str:
    """Where a sweep's objects live in the reports bucket."""
    return f"sweeps/{sweep_id}/"
