"""`sam build` packages every function without Docker, with arm64 binaries of numpy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stp.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
ELF_MACHINE_AARCH64 = 0xB7
BUILD_TIMEOUT_SECONDS = 600


def _elf_machine(path: Path) -> int:
    """The e_machine field of an ELF file (little-endian, offset 18)."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sam-build")
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "sam"),
            "build",
            "--template",
            "template.yaml",
            "--build-dir",
            str(target),
            "--no-cached",
            "--parallel",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return target


def test_every_function_and_nested_stack_is_built(build_dir: Path) -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            package = build_dir / logical_id
            assert (package / "trading" / "errors.py").is_file(), logical_id
            assert (package / "aws_lambda_powertools").is_dir(), logical_id
            assert not (package / "stp").exists(), "local tooling must not ship"
        elif resource["Type"] == "AWS::Serverless::Application":
            assert (build_dir / logical_id / "template.yaml").is_file(), logical_id


def test_binaries_are_built_for_arm64(build_dir: Path) -> None:
    libraries = list((build_dir / "ProcessMarketDataFunction" / "numpy").rglob("*.so"))
    assert libraries
    assert {_elf_machine(library) for library in libraries} == {ELF_MACHINE_AARCH64}


def test_the_users_strategies_ship_as_a_layer_on_every_function(build_dir: Path) -> None:
    from stp.cli import STRATEGIES_LAYER, strategies_folder

    layer = build_dir / STRATEGIES_LAYER / "python"  # Lambda unpacks it at /opt/python
    shipped = sorted(p.name for p in strategies_folder(ROOT).glob("*.py"))
    assert shipped and sorted(p.name for p in layer.glob("*.py")) == shipped
    for name in shipped:
        assert (layer / name).read_bytes() == (strategies_folder(ROOT) / name).read_bytes()
    built = load_template(build_dir / "template.yaml")
    assert built["Globals"]["Function"]["Layers"] == [{"Ref": STRATEGIES_LAYER}]
    assert built["Resources"][STRATEGIES_LAYER]["Properties"]["ContentUri"] == STRATEGIES_LAYER


def test_the_registry_finds_the_built_layers_strategies_where_lambda_puts_them(
    build_dir: Path,
) -> None:
    """The registry as it runs on Lambda (no STP_STRATEGIES: /opt/python), pointed at the
    built layer's folder in a fresh interpreter, lists the shipped strategies."""
    layer = build_dir / "StrategiesLayer" / "python"
    code = (
        "import json, trading.sdk.registry as r\n"
        f"r.LAMBDA_LAYER_FOLDER = {str(layer)!r}\n"
        "print(json.dumps([e.name for e in r.available_strategies()]))"
    )
    environment = {k: v for k, v in os.environ.items() if k != "STP_STRATEGIES"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert {"breakout", "scale_out", "dual_momentum"} <= set(json.loads(done.stdout))
