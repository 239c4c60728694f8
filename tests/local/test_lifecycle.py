"""LocalCloud leaves the process as it found it: environment, port, handler modules."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from stp.local import LocalCloud

APP = Path(__file__).parent / "fixtures" / "app"
VARIABLES = ("AWS_ENDPOINT_URL_LAMBDA", "AWS_ACCESS_KEY_ID", "AWS_DEFAULT_REGION")


def test_exit_restores_environment_closes_the_server_and_unloads_handlers() -> None:
    before = {key: os.environ.get(key) for key in VARIABLES}
    with LocalCloud() as cloud:
        endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL_LAMBDA"])
        assert endpoint.hostname == "127.0.0.1"
        cloud.deploy(APP / "template.yaml", stack_name="lifecycle")
        assert cloud.invoke("SummarizeFunction", {"key": "a/b.json", "rows": 1}).ok
        assert "demo_jobs.summarize" in sys.modules
    assert {key: os.environ.get(key) for key in VARIABLES} == before
    assert "demo_jobs.summarize" not in sys.modules
    with (
        pytest.raises(OSError),
        socket.create_connection((endpoint.hostname, endpoint.port or 80), timeout=1),
    ):
        pass


def test_using_it_outside_the_context_manager_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        LocalCloud().deploy(APP / "template.yaml")


def test_a_stack_created_again_has_the_same_generated_names() -> None:
    # Physical names derive from stack and logical id (as one AWS stack keeps its names):
    # `stp up` restarted on saved state finds its buckets and tables where they were.
    names = []
    for _ in range(2):
        with LocalCloud() as cloud:
            deployment = cloud.deploy(APP / "template.yaml", stack_name="twice")
            names.append(sorted(deployment.resources.items()))
    assert names[0] == names[1]
    bucket = dict(names[0])["StorageStack/DataBucket"]
    assert bucket.startswith("twice-storagestack-") and bucket == bucket.lower()


def test_an_unloaded_submodule_of_a_kept_package_is_imported_afresh(tmp_path: Path) -> None:
    from stp.local.lambda_runtime import unload_code

    package = tmp_path / "kept_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("class Oops(Exception):\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import kept_pkg  # the host's, kept
        from kept_pkg import errors as first

        unload_code({tmp_path}, keep={"kept_pkg"})
        from kept_pkg import errors as second  # reads the package attribute first

        assert second is not first and second is sys.modules["kept_pkg.errors"]
        assert kept_pkg.errors is second
    finally:
        for name in ("kept_pkg", "kept_pkg.errors"):
            sys.modules.pop(name, None)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
