"""The gaps of moto (5.2.5) the local runtime patches: two of its CloudFormation, one of its
DynamoDB.

1. Nested stack outputs: moto creates an ``AWS::CloudFormation::Stack`` from its
   ``TemplateURL`` but its stack model has no ``get_cfn_attribute``, so
   ``!GetAtt Child.Outputs.Name`` (how a SAM nested application's outputs are read) fails the
   whole deploy. The patch answers it from the child's outputs, as CloudFormation does.
2. State machines: with ``stepfunctions.execute_state_machine`` on, moto's Step Functions API
   is served by its ASL-executing backend, while CloudFormation creates state machines in
   the plain one, where the API never finds them. The patch creates them in the backend the
   API uses, which also validates the ASL with the interpreter's parser at deploy time.
3. DynamoDB requests from several threads: moto checks a write's conditions and then
   applies it, without a lock, so two concurrent conditional writes (or transactions) can
   both pass their checks and one update is lost; and a read running beside a write sees it
   half done (``update_item`` of a new item inserts the bare key first and applies ``SET``
   after, so a concurrent ``BatchGetItem`` returned ``{PK, SK}`` alone). DynamoDB never
   allows either. The patch serves moto's DynamoDB requests one at a time, response
   serialisation included (moto renders the live item objects after the operation returns),
   so every read sees a write either whole or not at all.

Each patch steps aside when moto already does the job itself.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.models import Stack
from moto.core.config import default_user_config
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.models import StateMachine, stepfunctions_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.utils import cfn_to_api_tags

_OUTPUTS = "Outputs."
_PATCHED = "_stp_local_patched"
# One DynamoDB request at a time: reentrant, since a request never waits on another one.
_DYNAMODB_LOCK = threading.RLock()


def patch_moto() -> None:
    """Install the patches (idempotent)."""
    if not hasattr(Stack, "get_cfn_attribute"):
        Stack.get_cfn_attribute = _nested_stack_attribute  # type: ignore[attr-defined]
    if not getattr(StateMachine, _PATCHED, False):
        StateMachine.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign, assignment]
            _create_state_machine
        )
        setattr(StateMachine, _PATCHED, True)
    isolate_dynamodb_requests()


def isolate_dynamodb_requests() -> None:
    """Serve moto's DynamoDB requests one at a time, reads included (patch 3; idempotent)."""
    if getattr(DynamoHandler, _PATCHED, False):
        return
    DynamoHandler.call_action = _one_at_a_time(DynamoHandler.call_action)  # type: ignore[method-assign]
    setattr(DynamoHandler, _PATCHED, True)


def _one_at_a_time(action: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(action)
    def isolated(*args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_LOCK:
            return action(*args, **kwargs)

    return isolated


def _nested_stack_attribute(stack: Any, attribute_name: str) -> Any:
    """``Outputs.<Name>`` of a nested stack: the value of that output."""
    if attribute_name.startswith(_OUTPUTS):
        output = stack.output_map.get(attribute_name[len(_OUTPUTS) :])
        if output is not None:
            return output.value
    raise UnformattedGetAttTemplateException()


def _create_state_machine(
    cls: type[StateMachine],
    /,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> StateMachine:
    """moto's own CloudFormation create, against the backend the Step Functions API serves."""
    properties = cloudformation_json["Properties"]
    executes = default_user_config.get("stepfunctions", {}).get("execute_state_machine", False)
    backends: Any = stepfunctions_parser_backends if executes else stepfunctions_backends
    machine: StateMachine = backends[account_id][region_name].create_state_machine(
        name=properties.get("StateMachineName", resource_name),
        definition=properties.get("DefinitionString", ""),
        roleArn=properties.get("RoleArn", ""),
        tags=cfn_to_api_tags(properties.get("Tags", [])),
        sm_type=properties.get("StateMachineType"),
    )
    return machine
