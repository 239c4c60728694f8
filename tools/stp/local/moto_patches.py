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
3. DynamoDB writes from several threads: moto checks a write's conditions and then applies
   it, without a lock, so two concurrent conditional writes (or transactions) can both pass
   their checks and one update is lost. DynamoDB itself never allows that. The patch runs
   moto's write operations one at a time, as DynamoDB orders conflicting writes.

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
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.models import StateMachine, stepfunctions_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.utils import cfn_to_api_tags

_OUTPUTS = "Outputs."
_PATCHED = "_stp_local_patched"
# moto's DynamoDB operations that check conditions and then write.
_DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
)
_DYNAMODB_WRITE_LOCK = threading.RLock()


def patch_moto() -> None:
    """Install the patches (idempotent)."""
    if not hasattr(Stack, "get_cfn_attribute"):
        Stack.get_cfn_attribute = _nested_stack_attribute  # type: ignore[attr-defined]
    if not getattr(StateMachine, _PATCHED, False):
        StateMachine.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign, assignment]
            _create_state_machine
        )
        setattr(StateMachine, _PATCHED, True)
    serialize_dynamodb_writes()


def serialize_dynamodb_writes() -> None:
    """Run moto's DynamoDB writes one at a time (patch 3; idempotent)."""
    if getattr(DynamoDBBackend, _PATCHED, False):
        return
    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is not None:
            setattr(DynamoDBBackend, name, _one_at_a_time(original))
    setattr(DynamoDBBackend, _PATCHED, True)


def _one_at_a_time(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_WRITE_LOCK:
            return operation(*args, **kwargs)

    return serialized


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
