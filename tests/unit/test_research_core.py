"""The research core without AWS: requests checked at the edge, work items, walk-forward
windows, ranking, the batch evaluation sharing its indicators, aggregation, the report."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from tests.builders import random_series
from trading.core import indicators
from trading.core.research.aggregate import leaderboard, leaderboard_csv, universe_summary
from trading.core.research.evaluate import evaluate_batch
from trading.core.research.objectives import score
from trading.core.research.plan import (
    IN_SAMPLE,
    OUT_OF_SAMPLE,
    PlanError,
    items_jsonl,
    plan_items,
    walk_forward_windows,
)
from trading.core.research.request import (
    MAX_ITEMS,
    SweepRequestError,
    WalkForward,
    parse_sweep_request,
)
from trading.reporting.sweep_report import sweep_html


def test_a_grid_expands_ranges_and_lists_and_drops_invalid_pairs() -> None:
    request = parse_sweep_request(
        {"strategy": "sma_cross", "grid": {"fast": "5:15:5", "slow": [10, 30]}}
    )
    sets = request.parameter_sets()
    # fast < slow: (10, 10), (15, 10) are not valid sma_cross settings.
    assert sets == [
        {"fast": 5, "slow": 10},
        {"fast": 5, "slow": 30},
        {"fast": 10, "slow": 30},
        {"fast": 15, "slow": 30},
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"strategy": "nope"}, "strategy: unknown strategy 'nope'"),
        ({"strategy": "sma_cross", "grid": {"speed": [1]}}, "grid: unknown parameter 'speed'"),
        (
            {"strategy": "sma_cross", "grid": {"fast": [0, 5]}},
            "grid fast: parameter 'fast' must be between 1 and 10000, got 0",
        ),
        ({"strategy": "sma_cross", "grid": {"fast": "5:1:1"}}, "needs start <= stop"),
        ({"strategy": "sma_cross", "grid": {"fast": "a:b"}}, "write start:stop:step"),
        ({"strategy": "sma_cross", "objective": "luck"}, "objective: must be one of"),
        ({"strategy": "sma_cross", "batch_size": 0}, "batch_size: must be an integer"),
        ({"strategy": "sma_cross", "mode": "random"}, "random search needs at least one"),
        ({"strategy": "sma_cross", "settings": {"cash": -1}}, "settings: "),
        ({"strategy": "sma_cross", "settings": {"params": {}}}, "settings: unknown"),
        ({"strategy": "sma_cross", "grid": {"fast": [50], "slow": [20]}}, "no parameter set"),
        ({"strategy": "sma_cross", "extra": 1}, "unknown field(s) extra"),
    ],
)
def test_every_bad_request_is_one_line_naming_the_field(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SweepRequestError, match=None) as caught:
        parse_sweep_request(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_random_search_is_seeded_within_the_ranges() -> None:
    raw = {"strategy": "sma_cross", "ranges": {"fast": [2, 20], "slow": "30:90"}, "samples": 25}
    first = parse_sweep_request({**raw, "seed": 3}).parameter_sets()
    assert first == parse_sweep_request({**raw, "seed": 3}).parameter_sets()
    assert first != parse_sweep_request({**raw, "seed": 4}).parameter_sets()
    assert all(2 <= s["fast"] <= 20 and 30 <= s["slow"] <= 90 for s in first)
    assert all(float(s["fast"]).is_integer() for s in first)


def test_the_item_cap_is_a_clear_error() -> None:
    request = parse_sweep_request(
        {"strategy": "sma_cross", "grid": {"fast": "1:400:1", "slow": "401:700:1"}}
    )
    with pytest.raises(PlanError, match=f"more than the cap of {MAX_ITEMS:,}"):
        plan_items(request, timeline=None, data_symbols=[])


@pytest.mark.parametrize("anchored", [False, True])
def test_walk_forward_windows_follow_each_other_out_of_sample(anchored: bool) -> None:
    timeline = np.arange(1000, dtype=np.int64) * 10
    windows = walk_forward_windows(
        timeline, WalkForward(folds=4, in_sample=0.75, anchored=anchored)
    )
    assert [w["phase"] for w in windows] == [IN_SAMPLE, OUT_OF_SAMPLE] * 4
    outs = [w for w in windows if w["phase"] == OUT_OF_SAMPLE]
    assert outs[-1]["end_ts"] == timeline[-1]
    for before, after in itertools.pairwise(outs):
        assert after["start_ts"] == before["end_ts"] + 10
    for ins, out in zip(windows[::2], windows[1::2], strict=True):
        assert ins["end_ts"] + 10 == out["start_ts"]
        assert (ins["start_ts"] == 0) if anchored else ins["start_ts"] >= 0
    lengths = {w["end_ts"] - w["start_ts"] for w in windows[::2]}
    assert (len(lengths) > 1) if anchored else (len(lengths) == 1)
    with pytest.raises(PlanError, match="too few"):
        walk_forward_windows(timeline[:5], WalkForward(folds=4, in_sample=0.75, anchored=False))


def test_universe_items_are_one_a_symbol_and_jsonl_is_one_line_each() -> None:
    request = parse_sweep_request({"strategy": "buy_and_hold", "mode": "universe"})
    items = plan_items(request, timeline=None, data_symbols=["B", "A"])
    assert [item["symbols"] for item in items] == [["A"], ["B"]]
    assert items_jsonl(items).decode().count("\n") == 2


def test_objectives_rank_higher_first_and_honour_min_trades() -> None:
    metrics = {"sharpe": 1.2, "trades": 3, "max_drawdown": -0.1}
    assert score(metrics, "sharpe") == 1.2
    assert score(metrics, "sharpe", min_trades=5) is None
    assert score({"sharpe": None, "trades": 9}, "sharpe") is None
    assert score(metrics, "max_drawdown") == -0.1  # the shallowest drawdown ranks first


def test_a_batch_computes_each_indicator_once_and_equals_separate_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    series = {"AAA": random_series(1, 400, symbol="AAA")}
    request = parse_sweep_request(
        {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [20, 40]}}
    ).to_dict()
    items = plan_items(parse_sweep_request(request), timeline=None, data_symbols=[])
    computed: list[int] = []
    window_means = indicators._window_means

    def counting(values: Any, period: int, out: Any) -> None:
        computed.append(period)  # one pass of window means a moving average
        window_means(values, period, out)

    monkeypatch.setattr(indicators, "_window_means", counting)
    together = evaluate_batch(series, request, items)
    assert sorted(computed) == [5, 10, 20, 40]  # 4 averages for 4 sets, not 8
    monkeypatch.undo()
    alone = [evaluate_batch(series, request, [item])[0] for item in items]
    for shared, single in zip(together, alone, strict=True):
        assert shared["metrics"] == single["metrics"]


def test_aggregation_ranks_writes_csv_and_the_report_names_the_stability() -> None:
    series = {"AAA": random_series(2, 300, symbol="AAA")}
    request = parse_sweep_request(
        {"strategy": "sma_cross", "grid": {"fast": [3, 5, 8], "slow": [20, 30, 40]}}
    ).to_dict()
    items = plan_items(parse_sweep_request(request), timeline=None, data_symbols=[])
    results = evaluate_batch(series, request, items)
    failed = [{**results.pop(), "error": "Broken: on purpose"}]
    document = leaderboard(request, results, failed, lambda _: None)
    assert (document["items"], document["succeeded"], document["failed"]) == (9, 8, 1)
    scores = [row["score"] for row in document["ranking"] if row["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    csv_rows = leaderboard_csv(document).decode().splitlines()
    assert csv_rows[0].split(",")[:4] == ["rank", "item", "fast", "slow"]
    html = sweep_html(document)
    assert "Objective over fast (columns) and slow (rows)" in html
    assert "Stability of the best cell" in html
    assert "Broken: on purpose" in html


def test_the_equal_weight_portfolio_averages_the_symbol_accounts() -> None:
    rows = [
        {"item": 0, "symbols": ["A"], "params": {}, "metrics": {}, "score": 1.0},
        {"item": 1, "symbols": ["B"], "params": {}, "metrics": {}, "score": 0.5},
    ]
    curves = {
        0: {"ts": [1, 2, 3], "equity": [100.0, 110.0, 120.0]},
        1: {"ts": [2, 3, 4], "equity": [100.0, 90.0, 80.0]},
    }
    summary = universe_summary(rows, lambda row: curves[row["item"]])
    portfolio = summary["portfolio"]
    assert portfolio["ts"] == [1, 2, 3, 4]
    # B holds its starting cash before its first bar; A its last equity after its last.
    assert portfolio["equity"] == [100.0, 105.0, 105.0, 100.0]


def test_the_leaderboard_metrics_are_the_report_s_json_values() -> None:
    from trading.core.pipeline import run_backtest
    from trading.core.research.evaluate import LEADERBOARD_METRICS, leaderboard_metrics
    from trading.core.settings import resolve_settings

    series = {"AAA": random_series(3, 500, symbol="AAA")}
    for params in ({"fast": 5, "slow": 20}, {"fast": 400, "slow": 450}):  # the second: no trade
        settings = resolve_settings({"params": params})
        report = run_backtest(series, settings.build_strategy(), settings.run_config()).metrics
        full = report.to_dict()
        assert leaderboard_metrics(report) == {name: full[name] for name in LEADERBOARD_METRICS}


def test_a_sweep_takes_every_run_setting_but_the_strategy_s_own_and_the_account() -> None:
    # Margin settings reach the backtests: with leverage 2 a long/short grid trades bigger.
    series = {"AAA": random_series(3, 500, symbol="AAA")}
    results = {}
    for leverage in (1, 2):
        raw = {
            "strategy": "sma_cross",
            "grid": {"fast": [5], "slow": [20]},
            "settings": {"mode": "long-short", "leverage": leverage, "maintenance_margin": 1},
        }
        request = parse_sweep_request(raw)
        items = plan_items(request, timeline=None, data_symbols=[])
        [result] = evaluate_batch(series, request.to_dict(), items)
        results[leverage] = result["metrics"]
    assert results[1]["trades"] > 0
    assert results[2]["total_return"] != results[1]["total_return"]
    for refused in ("account", "params", "strategy", "corporate_actions"):
        with pytest.raises(SweepRequestError, match="settings: unknown or not sweepable"):
            parse_sweep_request({"strategy": "sma_cross", "settings": {refused: "x"}})
