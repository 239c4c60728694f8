"""The gaps of moto (5.2.5) the local runtime patches: three of its CloudFormation, one of its
DynamoDB, two of its EventBridge, two of its Step Functions, one of its S3, one of its core.

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

4. EventBridge targets that are state machines: moto's ``Rule.send_to_targets`` raises
   ``NotImplementedError`` for them (swallowed when S3 sends an event), so nothing an upload
   or ``PutEvents`` sends ever starts a workflow. The patch starts them (`stp.local.triggers`)
   and leaves every other target to moto.
5. The event S3 sends to EventBridge: moto's lacks fields S3 sends and misnames others
   (``eTag``), and it leaves before the object's metadata is set; the patch sends S3's own
   (`stp.local.triggers.object_created_event`) once the S3 request is done.
6. Physical names CloudFormation generates (``<stack>-<LogicalId>-<12 random characters>``):
   moto draws the suffix from one random sequence, so the names change with the order of
   creation and from one start to the next. The patch derives the suffix from the stack name
   and logical id, so a stack created again (`stp up` restarted on its saved state) has the
   same bucket and table names, as the one stack on AWS keeps its names for its lifetime.
7. ``States.Runtime``: AWS documents it as never retried and never caught ("States.ALL ...
   can't catch ... runtime error types"): it always fails the execution. moto's ``States.ALL``
   matches it, so a broken path or a missing mocked response would run the failure path as
   if a task had failed. The patch keeps ``States.ALL`` and ``States.TaskFailed`` from
   matching it.
8. ``StartExecution`` without a name: AWS names the execution with a UUID; moto's
   ASL-executing backend names it ``None``, so a second unnamed start fails with
   ``ExecutionAlreadyExists``. The patch gives it a UUID.
9. An object PUT whose ``Content-Type`` is a form type (``application/x-www-form-urlencoded``,
   what Python's ``urllib`` sends with any body): moto reads the body as form fields and
   stores an empty object. S3 stores the bytes whatever the type; the patch keeps the raw
   body of every S3 request before moto reads it (form fields are still parsed from it).
10. Memory: moto's ``BaseModel.__new__`` appends every model instance it ever creates to its
    class's ``instances_tracked`` list (for moto server's dashboard), and nothing removes
    them. A ``TransactWriteItems`` deep-copies the whole table (its rollback copy) for every
    item it writes, so every copy of every item stayed alive: a long-running `stp api` grew
    by tens of MB per hundred orders (`benchmarks/bench_api_memory.py`). The patch tracks
    instances weakly: the live ones are still listed, the discarded ones are freed.

10. A Fail state whose ``ErrorPath`` names a ``States.`` error (re-raising a caught
    ``States.ExceedToleratedFailureThreshold``, ``States.Timeout``...): AWS fails the execution
    with that error; moto refuses to build the name ("Custom Error Names MUST NOT begin with
    the prefix 'States.'") and ends the execution with an internal exception. The patch lets
    the Fail state report it.
11. Distributed Map: ``ItemBatcher``, JSONL items, tolerated failures and the ResultWriter's
    result files, as AWS runs them (`stp.local.distributed_map`).
12. ``ListMapRuns`` / ``DescribeMapRun`` read every execution's worker environment, which an
    execution just started does not have yet: moto fails with an internal ``AttributeError``
    (a 500 to the caller). AWS lists no map run for such an execution; the patch answers so.

Each patch steps aside when moto already does the job itself.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import string
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from moto.cloudformation import parsing as cloudformation_parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.models import Stack
from moto.core.common_models import BaseModel
from moto.core.config import default_user_config
from moto.dynamodb.responses import DynamoHandler
from moto.events.models import Rule
from moto.s3 import notifications as s3_notifications
from moto.s3.responses import S3Response
from moto.stepfunctions.models import StateMachine, stepfunctions_backends
from moto.stepfunctions.parser.api import ResourceNotFound
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)
from moto.stepfunctions.utils import cfn_to_api_tags

from stp.local import distributed_map
from stp.local.triggers import after_the_request, deliver_to_targets, send_s3_event

_OUTPUTS = "Outputs."
_PATCHED = "_stp_local_patched"
# One DynamoDB request at a time: reentrant, since a request never waits on another one.
_DYNAMODB_LOCK = threading.RLock()
# moto's generated-name suffix: 12 characters of digits and capitals.
_SUFFIX_LENGTH = 12
_SUFFIX_ALPHABET = string.digits + string.ascii_uppercase


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
    # Its own test: every model class inherits BaseModel's attributes (Rule's marker too).
    if BaseModel.__dict__.get("__new__") is not _weakly_tracked:
        BaseModel.__new__ = _weakly_tracked  # type: ignore[method-assign]
    if not getattr(Rule, _PATCHED, False):
        Rule.send_to_targets = deliver_to_targets(Rule.send_to_targets)  # type: ignore[method-assign]
        setattr(Rule, _PATCHED, True)
    if not getattr(s3_notifications, _PATCHED, False):
        s3_notifications._send_event_bridge_message = _s3_event(
            s3_notifications._send_event_bridge_message
        )
        S3Response.key_response = after_the_request(S3Response.key_response)  # type: ignore[method-assign]
        S3Response.bucket_response = after_the_request(S3Response.bucket_response)  # type: ignore[method-assign]
        S3Response.setup_class = _raw_body_first(S3Response.setup_class)  # type: ignore[method-assign]
        setattr(s3_notifications, _PATCHED, True)
    if not getattr(cloudformation_parsing, _PATCHED, False):
        cloudformation_parsing.generate_resource_name = _stable_name(  # type: ignore[assignment]
            cloudformation_parsing.generate_resource_name
        )
        setattr(cloudformation_parsing, _PATCHED, True)
    if not getattr(StepFunctionsParserBackend.start_execution, _PATCHED, False):
        StepFunctionsParserBackend.start_execution = _named_execution(  # type: ignore[method-assign]
            StepFunctionsParserBackend.start_execution
        )
    if not getattr(ErrorEqualsDecl, _PATCHED, False):
        ErrorEqualsDecl._eval_body = _runtime_errors_uncaught(ErrorEqualsDecl._eval_body)  # type: ignore[method-assign]
        setattr(ErrorEqualsDecl, _PATCHED, True)
    if not getattr(state_fail, _PATCHED, False):
        state_fail.CustomErrorName = _reraised_error_name  # type: ignore[assignment, attr-defined]
        setattr(state_fail, _PATCHED, True)
    if not getattr(StepFunctionsParserBackend.list_map_runs, _PATCHED, False):
        StepFunctionsParserBackend.list_map_runs = _map_runs_of_started(  # type: ignore[method-assign]
            StepFunctionsParserBackend.list_map_runs
        )
        StepFunctionsParserBackend.describe_map_run = _map_run_of_started(  # type: ignore[method-assign]
            StepFunctionsParserBackend.describe_map_run
        )
    distributed_map.install()


class _ReraisedErrorName(ErrorName):
    """An error name a Fail state reports as given, ``States.`` ones included (patch 10)."""


def _reraised_error_name(error_name: str | None) -> ErrorName:
    return _ReraisedErrorName(error_name=error_name)


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


class WeakInstances:
    """``instances_tracked`` that holds its instances weakly (patch 10): moto appends to it
    and iterates it; an instance nothing else holds is freed and drops out."""

    def __init__(self) -> None:
        self._refs: weakref.WeakSet[Any] = weakref.WeakSet()

    def append(self, instance: Any) -> None:
        """Track ``instance`` while something else holds it."""
        self._refs.add(instance)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._refs))

    def __len__(self) -> int:
        return len(self._refs)


def _weakly_tracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``BaseModel.__new__`` with weak tracking (moto resets the lists to plain ones)."""
    instance = super(BaseModel, cls).__new__(cls)  # type: ignore[misc]
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, WeakInstances):
        tracked = WeakInstances()
        cls.instances_tracked = tracked  # type: ignore[attr-defined]
    # A model whose instances cannot be weakly referenced is not listed.
    with contextlib.suppress(TypeError):
        tracked.append(instance)
    return instance


def _s3_event(moto_send: Callable[..., None]) -> Callable[..., None]:
    """S3's own EventBridge event for created objects (patch 5); moto's for the rest."""

    @functools.wraps(moto_send)
    def send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        if not send_s3_event(account_id, bucket, event_name, key):
            moto_send(account_id, bucket, event_name, key)

    return send


def _raw_body_first(setup: Callable[..., None]) -> Callable[..., None]:
    """S3's request setup, with the raw body cached before any form parsing (patch 9)."""

    @functools.wraps(setup)
    def setup_class(response: Any, request: Any, *args: Any, **kwargs: Any) -> None:
        request.get_data(cache=True)
        setup(response, request, *args, **kwargs)

    return setup_class


def _stable_name(generate: Callable[[str, str, str], str]) -> Callable[[str, str, str], str]:
    """moto's generated physical name with a suffix derived from stack and logical id."""

    @functools.wraps(generate)
    def stable(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = generate(resource_type, stack_name, logical_id)
        digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()
        suffix = "".join(_SUFFIX_ALPHABET[byte % len(_SUFFIX_ALPHABET)] for byte in digest)
        suffix = suffix[:_SUFFIX_LENGTH]
        if name[-_SUFFIX_LENGTH:].islower():  # bucket names are lower case
            suffix = suffix.lower()
        return name[:-_SUFFIX_LENGTH] + suffix

    return stable


def _named_execution(start: Callable[..., Any]) -> Callable[..., Any]:
    """``start_execution`` that names an unnamed execution with a UUID (patch 8)."""

    @functools.wraps(start)
    def start_execution(
        backend: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return start(backend, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    setattr(start_execution, _PATCHED, True)
    return start_execution


def _started_env(execution: Any) -> Any:
    """The execution's interpreter environment, or None before its worker has started."""
    return getattr(execution.exec_worker, "env", None)


def _map_runs_of_started(list_map_runs: Callable[..., Any]) -> Callable[..., Any]:
    """``list_map_runs`` that lists none for an execution whose worker has not started
    (patch 12)."""

    @functools.wraps(list_map_runs)
    def listed(backend: Any, execution_arn: str) -> Any:
        env = _started_env(backend.describe_execution(execution_arn=execution_arn))
        records = env.map_run_record_pool_manager.get_all() if env is not None else []
        return {"mapRuns": [record.list_item() for record in records]}

    setattr(listed, _PATCHED, True)
    return listed


def _map_run_of_started(describe_map_run: Callable[..., Any]) -> Callable[..., Any]:
    """``describe_map_run`` that looks only at executions whose worker has started, else
    ``ResourceNotFound`` as moto answers (patch 12)."""

    @functools.wraps(describe_map_run)
    def described(backend: Any, map_run_arn: str) -> Any:
        for execution in backend._get_executions():
            env = _started_env(execution)
            record = env.map_run_record_pool_manager.get(map_run_arn) if env is not None else None
            if record is not None:
                return record.describe()
        raise ResourceNotFound(f"map run {map_run_arn} does not exist")

    setattr(described, _PATCHED, True)
    return described


def _runtime_errors_uncaught(match: Callable[..., None]) -> Callable[..., None]:
    """A Retrier's or Catcher's match that never matches ``States.Runtime`` by a wildcard."""
    runtime = StatesErrorNameType.StatesRuntime.to_name()

    @functools.wraps(match)
    def matches(declaration: ErrorEqualsDecl, env: Any) -> None:
        error_name = env.stack[-1]
        if isinstance(error_name, StatesErrorName) and error_name.error_name == runtime:
            env.stack.pop()
            env.stack.append(error_name in declaration.error_names)
            return
        match(declaration, env)

    return matches


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
