"""Import cost, measured with ``python -X importtime`` in fresh interpreters (cold starts).

- The order path (risk checks, broker, accounting) must import no numeric library and cost
  <= 30 ms; the whole core <= 200 ms (issue 2).
- Each Lambda handler of template.yaml against a bare boto3 handler (benchmarks/
  baseline_handler.py), measured in the same run: goal <= 1.5x (issue 3).

Each figure is the median of several fresh runs, minus the interpreter's own start-up imports.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from stp.cfn_yaml import load_template

ORDER_PATH = "trading.core.execution"
WHOLE_CORE = (
    "trading.core.backtest, trading.core.marketdata, trading.core.metrics, "
    "trading.core.strategies, trading.core.settings, trading.reporting.html_report"
)
RUNS = 7
ROOT = Path(__file__).resolve().parent.parent


def import_cost_ms(modules: str) -> tuple[float, set[str]]:
    """Median self+children import time of ``modules`` (ms) and the modules it loaded."""
    costs: list[float] = []
    loaded: set[str] = set()
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {modules}"],
            capture_output=True,
            # src/ first, as /var/task is on Lambda: the editable install's finder is not consulted.
            env={
                **os.environ,
                "AWS_DEFAULT_REGION": "us-east-1",
                "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            },
            text=True,
            check=True,
        )
        total = 0
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, imported = line.split("|", 2)
            name = imported[1:]  # one space after the bar; more means a nested import
            if not name.startswith(" "):
                total += int(cumulative)
            loaded.add(name.strip())
        costs.append(total / 1000)
    return statistics.median(costs), loaded


def main() -> None:
    """Print the import figures and whether the order path stays free of numpy."""
    startup, _ = import_cost_ms("sys")  # interpreter start-up imports, subtracted below
    json_ms = import_cost_ms("json")[0] - startup
    order_ms, order_modules = import_cost_ms(ORDER_PATH)
    order_ms -= startup
    core_ms = import_cost_ms(WHOLE_CORE)[0] - startup
    numpy_ms = import_cost_ms("numpy")[0] - startup
    numeric = sorted(m for m in order_modules if m.split(".")[0] in {"numpy", "pandas", "scipy"})
    print(f"== import cost (python -X importtime, median of {RUNS} fresh interpreters) ==")
    print(f"baseline `import json`          {json_ms:8.1f} ms")
    print(f"baseline `import numpy`         {numpy_ms:8.1f} ms")
    print(f"order path ({ORDER_PATH})   {order_ms:8.1f} ms   goal <= 30 ms")
    print(f"whole core                      {core_ms:8.1f} ms   goal <= 200 ms")
    print(f"numeric libraries on the order path: {numeric or 'none'}")
    print()
    baseline_ms = import_cost_ms("benchmarks.baseline_handler")[0] - startup
    print(f"bare boto3 handler (baseline)   {baseline_ms:8.1f} ms")
    for logical_id, handler in handlers():
        module = handler.rsplit(".", 1)[0]
        cost = import_cost_ms(module)[0] - startup
        print(
            f"{logical_id:<32}{cost:8.1f} ms   {cost / baseline_ms:5.2f}x baseline (goal <= 1.5x)"
        )


def handlers() -> list[tuple[str, str]]:
    """(logical id, handler) of every function in template.yaml — the template is the list."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return [
        (logical_id, resource["Properties"]["Handler"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]


if __name__ == "__main__":
    main()
