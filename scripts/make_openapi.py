"""Write ``openapi.json`` (the API's contract) from the code: ``python -m scripts.make_openapi``.

``--check`` exits 1 when the committed file differs from what the code generates.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.json"


def main(argv: list[str] | None = None) -> int:
    """Write (or check) openapi.json; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if openapi.json is stale")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from handlers.api_contract import openapi_text

    text = openapi_text()
    if args.check:
        if not OPENAPI.exists() or OPENAPI.read_text() != text:
            print("openapi.json is stale: run python -m scripts.make_openapi", file=sys.stderr)
            return 1
        return 0
    OPENAPI.write_text(text)
    print(f"wrote {OPENAPI.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
