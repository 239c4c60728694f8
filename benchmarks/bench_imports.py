"""Import cost of the core, measured with ``python -X importtime`` in fresh interpreters.

The order path (risk checks, broker, accounting) must import no numeric library and cost
<= 30 ms; the whole core <= 200 ms. Each figure is the median of several fresh runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

ORDER_PATH = "trading.core.broker"
WHOLE_CORE = (
    "trading.core.backtest, trading.core.marketdata, trading.core.metrics, "
    "trading.core.strategies, trading.core.settings, trading.core.html_report"
)
RUNS = 7


def import_cost_ms(modules: str) -> tuple[float, set[str]]:
    """Median self+children import time of ``modules`` (ms) and the modules it loaded."""
    costs: list[float] = []
    loaded: set[str] = set()
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {modules}"],
            capture_output=True,
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


if __name__ == "__main__":
    main()
