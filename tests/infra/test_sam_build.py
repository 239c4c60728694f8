"""`sam build` packages every function without Docker, with arm64 binaries of numpy."""

from __future__ import annotations

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
