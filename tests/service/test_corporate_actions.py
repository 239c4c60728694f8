"""Corporate actions through the workflow's steps: applied at ingestion to the curated bars,
the raw upload kept, the adjustment recorded in the JSON and HTML reports; bad input fails as
the run's settings' fault, in one line."""

from __future__ import annotations

import json

import pytest

from tests.service.fakes import MARKET_BUCKET, REPORTS_BUCKET, FakePlatform
from trading.core.marketdata import parse_market_data
from trading.errors import InvalidRunConfigError

RAW_KEY = "raw/prices.csv"
ACTIONS_KEY = "corporate-actions/actions.csv"
# 40 bars of AAA around a 2:1 split on day 20: 100 before it, 50 from it (raw prices).
RAW = b"date,symbol,open,high,low,close,volume\n" + b"".join(
    f"2020-01-{1 + day:02d},AAA,{p},{p + 1},{p - 1},{p},1000\n".encode()
    for day, p in ((day, 100 if day < 20 else 50) for day in range(1, 31))
)


def _platform(actions: bytes | None) -> FakePlatform:
    platform = FakePlatform()
    platform.objects.upload(MARKET_BUCKET, RAW_KEY, RAW)
    if actions is not None:
        platform.objects.upload(MARKET_BUCKET, ACTIONS_KEY, actions)
    return platform


def test_a_split_adjusts_the_curated_bars_and_the_report_records_it() -> None:
    platform = _platform(
        b"date,symbol,action,value\n2020-01-21,AAA,split,2:1\n2030-01-02,AAA,dividend,1\n"
    )
    config = {"corporate_actions": ACTIONS_KEY, "strategy": "buy_and_hold"}
    market_data = platform.ingest("ca1", config=config)

    assert market_data["adjustments_key"] == "curated/ca1/adjustments.json"
    curated = parse_market_data(
        platform.objects.read(MARKET_BUCKET, market_data["curated_key"]), name="bars.csv"
    )
    bars = curated.series["AAA"]
    assert bars.close.tolist() == [50.0] * 30  # 19 bars at 100 / 2, then 11 at 50 as traded
    assert bars.volume.tolist() == [2000.0] * 19 + [1000.0] * 11
    assert platform.objects.read(MARKET_BUCKET, RAW_KEY) == RAW  # the upload stays raw
    step = platform.runs.steps[("ca1", "STEP#01#ProcessMarketData")]
    assert step.summary["bars_adjusted"] == 19

    execution = platform.execute("ca1", market_data).summary
    outcome = platform.analyze("ca1", market_data, execution)
    report = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))
    data = report["data"]
    assert data["corporate_actions"] == ACTIONS_KEY and data["bars_adjusted"] == 19
    (split,) = data["adjustments"]
    assert split | {"description": ""} == {
        "symbol": "AAA",
        "date": "2020-01-21",
        "action": "split",
        "value": 2.0,
        "price_factor": 0.5,
        "volume_factor": 2.0,
        "bars_adjusted": 19,
        "previous_close": None,
        "description": "",
    }
    assert data["adjustments_skipped"] == [
        {
            "symbol": "AAA",
            "date": "2030-01-02",
            "action": "dividend",
            "value": 1.0,
            "reason": "no bar of the data is on or after it",
        }
    ]
    assert report["metrics"]["max_drawdown"] == 0.0  # no -50% step: the split is not a loss
    html = platform.objects.read(REPORTS_BUCKET, outcome.html_key).decode()
    assert "<h2>Data adjustments</h2>" in html
    assert "AAA: split 2:1 on 2020-01-21; its first bar&#x27;s prices x0.5 in all." in html
    assert "Not applied: AAA dividend on 2030-01-02 (no bar of the data is on or after it)" in html


def test_without_corporate_actions_the_bars_stay_raw_and_the_report_says_none() -> None:
    platform = _platform(None)
    market_data = platform.ingest("raw1", config={"strategy": "buy_and_hold"})
    assert market_data["adjustments_key"] is None
    curated = parse_market_data(
        platform.objects.read(MARKET_BUCKET, market_data["curated_key"]), name="bars.csv"
    )
    assert curated.series["AAA"].close[0] == 100.0
    outcome = platform.analyze("raw1", market_data, platform.execute("raw1", market_data).summary)
    data = json.loads(platform.objects.read(REPORTS_BUCKET, outcome.report_key))["data"]
    assert (data["corporate_actions"], data["adjustments"], data["bars_adjusted"]) == (None, [], 0)
    html = platform.objects.read(REPORTS_BUCKET, outcome.html_key).decode()
    assert "Data adjustments" not in html


@pytest.mark.parametrize(
    ("actions", "config", "message"),
    [
        (
            None,
            {},
            f"corporate actions s3://{MARKET_BUCKET}/{ACTIONS_KEY} does not exist",
        ),
        (
            b"date,symbol,action,value\n2020-01-21,AAA,bonus,2\n",
            {},
            f"corporate actions s3://{MARKET_BUCKET}/{ACTIONS_KEY} line 2: action 'bonus' is "
            "not split or dividend",
        ),
        (
            b"date,symbol,action,value\n2020-01-21,AAA,dividend,100\n",
            {},
            "corporate actions line 2: AAA dividend 100 on 2020-01-21 is not below the previous "
            "close 100",
        ),
        (
            b"date,symbol,action,value\n2020-01-21,AAA,split,2\n",
            {"account": "paper"},
            "corporate_actions back-adjust a backtest's bars and cannot be used with a live "
            "account (paper)",
        ),
    ],
)
def test_bad_corporate_actions_fail_the_ingestion_as_bad_settings_in_one_line(
    actions: bytes | None, config: dict[str, str], message: str
) -> None:
    platform = _platform(actions)
    with pytest.raises(InvalidRunConfigError) as raised:
        platform.ingest("bad", config={"corporate_actions": ACTIONS_KEY} | config)
    assert message in str(raised.value) and "\n" not in str(raised.value)
