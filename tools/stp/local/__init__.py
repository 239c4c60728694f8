"""The Docker-free local AWS runtime: the same SAM template, ASL and handlers, in one process.

>>> from stp.local import LocalCloud
>>> with LocalCloud() as cloud:  # doctest: +SKIP
...     deployment = cloud.deploy(Path("template.yaml"))
...     for state in cloud.watch(cloud.upload(bucket, "raw/bars.csv", data)[0]):
...         print(state.name, state.status, state.retries)
"""

from stp.local.deploy import DeployError
from stp.local.emulator import LocalCloud
from stp.local.input_transformer import render_template, target_input
from stp.local.lambda_server import InvokeServer
from stp.local.models import (
    Deployment,
    ExecutionOutcome,
    FunctionInfo,
    InvocationResult,
    StateProgress,
)
from stp.local.triggers import object_created_event

__all__ = [
    "DeployError",
    "Deployment",
    "ExecutionOutcome",
    "FunctionInfo",
    "InvocationResult",
    "InvokeServer",
    "LocalCloud",
    "StateProgress",
    "object_created_event",
    "render_template",
    "target_input",
]
