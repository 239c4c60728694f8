"""A sweep's results into its leaderboard: ranked by the objective, plus the walk-forward
(per-fold winners, stitched out-of-sample equity, walk-forward efficiency) and universe
(per symbol, equal-weight portfolio) views.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from trading.core.metrics import compute_metrics
from trading.core.research.objectives import rank_key, score
from trading.core.research.plan import IN_SAMPLE, OUT_OF_SAMPLE

Curve = Mapping[str, Sequence[float]]


def leaderboard(
    request: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    failed: Sequence[Mapping[str, Any]],
    curve_of: Callable[[Mapping[str, Any]], Curve | None],
) -> dict[str, Any]:
    """The sweep's summary document (``leaderboard.json``).

    ``results`` are the items' results (without curves), ``failed`` the items whose batch
    failed (with ``error``), ``curve_of(result)`` loads an item's equity curve.
    """
    objective, min_trades = request["objective"], int(request.get("min_trades", 0))
    scored = scored_results(request, results)
    document: dict[str, Any] = {
        "strategy": request["strategy"],
        "mode": request["mode"],
        "objective": objective,
        "min_trades": min_trades,
        "items": len(results) + len(failed),
        "succeeded": len(results),
        "failed": len(failed),
        "failures": [
            {"item": item["item"], "params": item.get("params"), "error": item.get("error")}
            for item in failed[:100]
        ],
        "seconds": sum(float(result.get("seconds", 0.0)) for result in results),
    }
    ranked = ranking_order(request, scored)
    if request["mode"] == "walk-forward":
        document["walk_forward"] = walk_forward_summary(scored, curve_of)
    if request["mode"] == "universe":
        document["universe"] = universe_summary(scored, curve_of)
    document["ranking"] = [_row(rank, row) for rank, row in enumerate(ranked, start=1)]
    document["best"] = document["ranking"][0] if ranked and ranked[0]["score"] is not None else None
    return document


def scored_results(
    request: Mapping[str, Any], results: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``results`` with their ``score`` by the request's objective (None: not eligible)."""
    objective, min_trades = request["objective"], int(request.get("min_trades", 0))
    return [
        {**result, "score": score(result["metrics"], objective, min_trades)} for result in results
    ]


def ranking_order(
    request: Mapping[str, Any], scored: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The scored results the leaderboard ranks, best first (walk-forward: in-sample only)."""
    if request["mode"] == "walk-forward":
        return sorted(
            (row for row in scored if (row.get("window") or {}).get("phase") == IN_SAMPLE),
            key=rank_key,
        )
    return sorted(scored, key=rank_key)


def best_result(
    request: Mapping[str, Any], results: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The best of ``results`` as a leaderboard row without its rank (None: none eligible);
    ranked exactly as :func:`leaderboard` ranks."""
    ranked = ranking_order(request, scored_results(request, results))
    if not ranked or ranked[0]["score"] is None:
        return None
    row = _row(0, ranked[0])
    del row["rank"]
    return row


def _row(rank: int, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "rank": rank,
        "item": row["item"],
        "params": row["params"],
        "symbols": row.get("symbols"),
        "window": row.get("window"),
        "score": row["score"],
        "metrics": row["metrics"],
    }


def walk_forward_summary(
    scored: Sequence[Mapping[str, Any]], curve_of: Callable[[Mapping[str, Any]], Curve | None]
) -> dict[str, Any]:
    """Per fold: the in-sample winner and the same parameters out of sample; the stitched
    out-of-sample equity (each fold's curve scaled to start where the last ended) and the
    walk-forward efficiency (mean out-of-sample CAGR / mean in-sample CAGR of the winners)."""
    folds: dict[int, dict[str, list[Mapping[str, Any]]]] = {}
    outcome: list[dict[str, Any]] = []
    for row in scored:
        window = row["window"]
        folds.setdefault(window["fold"], {IN_SAMPLE: [], OUT_OF_SAMPLE: []})[
            window["phase"]
        ].append(row)
    summary_folds: list[dict[str, Any]] = outcome
    stitched_ts: list[int] = []
    stitched_equity: list[float] = []
    for fold in sorted(folds):
        in_sample = sorted(folds[fold][IN_SAMPLE], key=rank_key)
        if not in_sample or in_sample[0]["score"] is None:
            summary_folds.append({"fold": fold, "winner": None})
            continue
        winner = in_sample[0]
        twin = next(
            (
                row
                for row in folds[fold][OUT_OF_SAMPLE]
                if row["params"] == winner["params"] and row.get("symbols") == winner.get("symbols")
            ),
            None,
        )
        entry: dict[str, Any] = {
            "fold": fold,
            "params": winner["params"],
            "in_sample": {"window": winner["window"], "metrics": winner["metrics"]},
            "out_of_sample": None,
        }
        if twin is not None:
            entry["out_of_sample"] = {"window": twin["window"], "metrics": twin["metrics"]}
            curve = curve_of(twin)
            if curve is not None and len(curve["equity"]):
                equity = np.asarray(curve["equity"], dtype=float)
                scale = (stitched_equity[-1] / equity[0]) if stitched_equity else 1.0
                stitched_ts.extend(int(ts) for ts in curve["ts"])
                stitched_equity.extend((equity * scale).tolist())
        summary_folds.append(entry)
    in_cagr = [
        f["in_sample"]["metrics"].get("cagr") for f in summary_folds if f.get("out_of_sample")
    ]
    out_cagr = [
        f["out_of_sample"]["metrics"].get("cagr") for f in summary_folds if f.get("out_of_sample")
    ]
    efficiency = None
    pairs = [
        (i, o) for i, o in zip(in_cagr, out_cagr, strict=True) if i is not None and o is not None
    ]
    if pairs:
        mean_in = float(np.mean([i for i, _ in pairs]))
        mean_out = float(np.mean([o for _, o in pairs]))
        efficiency = mean_out / mean_in if mean_in != 0 else None
    stitched_metrics = None
    if len(stitched_equity) >= 2:
        stitched_metrics = _metrics(stitched_ts, stitched_equity)
    return {
        "folds": summary_folds,
        "efficiency": efficiency,
        "stitched": {"ts": stitched_ts, "equity": stitched_equity, "metrics": stitched_metrics},
    }


def universe_summary(
    scored: Sequence[Mapping[str, Any]], curve_of: Callable[[Mapping[str, Any]], Curve | None]
) -> dict[str, Any]:
    """Per symbol: its result; the equal-weight portfolio: the per-symbol accounts' equity
    summed on the union of their bar times (each held flat before its first bar and after
    its last), scaled to one account's starting cash."""
    per_symbol = []
    curves = []
    for row in sorted(scored, key=rank_key):
        per_symbol.append(
            {"symbols": row["symbols"], "params": row["params"], "metrics": row["metrics"]}
        )
        curve = curve_of(row)
        if curve is not None and len(curve["equity"]):
            curves.append(
                (np.asarray(curve["ts"], dtype=np.int64), np.asarray(curve["equity"], dtype=float))
            )
    portfolio = None
    if curves:
        timeline = np.unique(np.concatenate([ts for ts, _ in curves]))
        total = np.zeros(timeline.shape[0])
        for ts, equity in curves:
            position = np.searchsorted(ts, timeline, side="right") - 1
            total += np.where(position >= 0, equity[np.clip(position, 0, None)], equity[0])
        total /= len(curves)
        portfolio = {
            "ts": timeline.tolist(),
            "equity": total.tolist(),
            "metrics": _metrics(timeline.tolist(), total.tolist()),
        }
    return {"per_symbol": per_symbol, "portfolio": portfolio}


def _metrics(ts: Sequence[int], equity: Sequence[float]) -> dict[str, Any]:
    report = compute_metrics(np.asarray(equity, dtype=float), np.asarray(ts, dtype=np.int64), [])
    values = report.to_dict()
    return {
        name: values.get(name)
        for name in ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown")
    }


def leaderboard_csv(document: Mapping[str, Any]) -> bytes:
    """The ranking as CSV: rank, parameters, symbols, window, score and the metrics."""
    ranking = document["ranking"]
    params = sorted({name for row in ranking for name in row["params"]})
    metrics = sorted({name for row in ranking for name in row["metrics"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["rank", "item", *params, "symbols", "window_start", "window_end", "score", *metrics]
    )
    for row in ranking:
        window = row.get("window") or {}
        writer.writerow(
            [
                row["rank"],
                row["item"],
                *(row["params"].get(name, "") for name in params),
                " ".join(row.get("symbols") or []),
                window.get("start_ts", ""),
                window.get("end_ts", ""),
                "" if row["score"] is None else row["score"],
                *(
                    "" if row["metrics"].get(name) is None else row["metrics"][name]
                    for name in metrics
                ),
            ]
        )
    return out.getvalue().encode()
