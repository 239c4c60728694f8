"""Regenerate the chained step events in events/ from a real local run of the handlers.

ProcessMarketData runs on ``events/process_market_data.json`` (data/stocks.csv seeded under
raw/stocks.csv); its real output becomes the ``market_data`` of ``execute_trades.json`` (and of
the duplicate delivery), whose real output becomes the ``execution`` of
``analyze_performance.json``. Bucket names are written back as the placeholder the events use,
so ``stp invoke`` and ``sam local invoke`` users edit one name. Run: ``python -m
scripts.make_sample_events`` (tests/workflow checks the committed events are current).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stp.invoke import PLACEHOLDER_BUCKET, seed_raw_objects
from stp.local import Deployment, LocalCloud

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def chained_events(cloud: LocalCloud, deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The step events of one real run in ``deployment``, keyed by file name (placeholders
    restored)."""
    bucket = deployment.outputs["MarketDataBucketName"]
    process_text = (EVENTS / "process_market_data.json").read_text()
    process = json.loads(process_text.replace(PLACEHOLDER_BUCKET, bucket))
    seed_raw_objects(cloud, bucket, json.dumps(process), ROOT / "data")
    run_id = process["run_id"]
    market_data = _ok(cloud.invoke("ProcessMarketDataFunction", process))
    execute = {"run_id": run_id, "market_data": market_data}
    execution = _ok(cloud.invoke("ExecuteTradesFunction", execute))
    analyze = {"run_id": run_id, "market_data": market_data, "execution": execution}

    def placeholder(event: dict[str, Any]) -> dict[str, Any]:
        restored: dict[str, Any] = json.loads(json.dumps(event).replace(bucket, PLACEHOLDER_BUCKET))
        return restored

    return {
        "execute_trades.json": placeholder(execute),
        "execute_trades.duplicate.json": placeholder(execute),
        "analyze_performance.json": placeholder(analyze),
    }


def _ok(result: Any) -> dict[str, Any]:
    if not result.ok:
        raise RuntimeError(f"{result.error_type}: {result.error_message}")
    payload: dict[str, Any] = result.payload
    return payload


def main() -> None:
    """Write the regenerated events."""
    with LocalCloud() as cloud:
        deployment = cloud.deploy(ROOT / "template.yaml", code_root=ROOT / "src")
        for name, event in chained_events(cloud, deployment).items():
            (EVENTS / name).write_text(json.dumps(event, indent=2) + "\n")
            print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
