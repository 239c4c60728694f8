"""Where a run's objects live: the one place that names every S3 key the workflow writes.

Market data bucket: ``raw/`` (uploads, never modified), ``corporate-actions/`` (corporate
actions files a run names), ``curated/<run_id>/{bars.csv, adjustments.json}``,
``rejected/<run_id>/<file name>.jsonl``, ``repaired/<run_id>/<file name>.jsonl``,
``signals/<run_id>/signals.json``, ``accounts/<account>/history/<run_id>.csv`` (a live
account's recent bars of a run's symbols), ``api/batches/<run_id>/<digest>.jsonl`` (a
``POST /market-data`` batch) and the ledger
``ledger/<run_id>/{orders.jsonl, fills.jsonl, trades.json, equity.json}``. Reports bucket:
``reports/<run_id>/{report.json, report.html, trades.csv, equity.csv}``.
"""

from __future__ import annotations

from posixpath import basename


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


def batch_key(run_id: str, digest: str) -> str:
    """A batch of bars posted to the API (JSON Lines), named by its run and content digest.

    Not under ``raw/``: the API starts its run itself, and an upload trigger must not start
    a second one."""
    return f"api/batches/{run_id}/{digest}.jsonl"


def upload_key(upload_id: str, file_name: str) -> str:
    """Where a presigned upload lands: under ``raw/``, so the upload trigger starts its run."""
    return f"raw/api/{upload_id}/{file_name}"


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
