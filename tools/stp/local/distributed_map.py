"""Distributed Map as AWS runs it, on moto's (5.2.5) interpreter: what its parser lacks or
accepts and ignores.

0. ``ProcessorConfig.ExecutionType`` ``EXPRESS``: moto's grammar takes ``STANDARD`` only.
   The children run in this process either way; the result files name them as express
   executions.
1. ``ItemBatcher``: moto's grammar has no such field and rejects the definition. The patched
   parse takes each Map state's ``ItemBatcher`` out of the definition before moto parses it and
   gives it to that state's map run, which groups the items as AWS does: each child receives
   ``{"Items": [...], "BatchInput": {...}}`` (``BatchInput`` only when declared, its ``.$``
   fields read from the state's input), at most ``MaxItemsPerBatch`` (or ``...Path``) items
   and ``MaxInputBytesPerBatch`` (or ``...Path``) bytes of items a batch.
2. ``ItemReader`` with ``ReaderConfig.InputType`` ``JSONL``: moto knows JSON and CSV only;
   the patch reads one JSON value a non-blank line (``MaxItems`` honoured).
3. ``ToleratedFailurePercentage`` / ``ToleratedFailureCount`` (and their ``Path`` forms):
   moto parses them, warns that they "have no effect", and treats every failed child as a
   success with a null output. The patch records each child's status, error and cause, and
   fails the map run with ``States.ExceedToleratedFailureThreshold`` once the failed items
   (every item of a failed batch) exceed either declared threshold (none declared: a single
   failure fails it), as AWS documents; no new child starts after that, and the
   ``ResultWriter`` still exports the children that ran (their result files and manifest)
   before the map fails, as AWS does, so nothing that ran is lost.
4. ``ResultWriter`` to S3: moto reads its ``Parameters`` paths from the map's results (AWS:
   from the state's input) and writes a manifest listing no result file. The patch writes
   the child executions as AWS does: ``<Prefix>/<map run id>/SUCCEEDED_0.json`` and
   ``FAILED_0.json`` (JSON arrays of ``ExecutionArn``, ``Name``, ``Input``, ``Output`` or
   ``Error``/``Cause``, ``Status``, ``StartDate``, ``StopDate`` ...) and a ``manifest.json``
   listing them with their sizes under ``ResultFiles``.

Everything else about a Map state stays moto's. A combination the patch does not cover
(``ItemSelector`` beside ``ItemBatcher``, a ``$$`` path in ``BatchInput``) is refused when the
definition is parsed, never run differently.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import (
    Job,
    JobPool,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.json_path import extract_json

_STATE_MAP = "moto.stepfunctions.parser.asl.component.state.exec.state_map"


def _map_module(name: str) -> Any:
    """A module of moto's Map state (their paths pass any line length)."""
    return importlib.import_module(f"{_STATE_MAP}.{name}")


state_map: Any = _map_module("state_map")
item_reader_decl: Any = _map_module("item_reader.item_reader_decl")
ResourceOutputTransformer: Any = _map_module(
    "item_reader.eval.resource_output_transformer.transformer"
).ResourceOutputTransformer
input_type: Any = _map_module("item_reader.reader_config.input_type")
DistributedIterationComponent: Any = _map_module(
    "iteration.distributed_iteration_component"
).DistributedIterationComponent
DistributedItemProcessorWorker: Any = _map_module(
    "iteration.itemprocessor.distributed_item_processor_worker"
).DistributedItemProcessorWorker
DistributedIteratorWorker: Any = _map_module(
    "iteration.iterator.distributed_iterator_worker"
).DistributedIteratorWorker
DEFAULT_MAX_CONCURRENCY_VALUE: Any = _map_module("max_concurrency").DEFAULT_MAX_CONCURRENCY_VALUE
ResourceEvalS3: Any = _map_module("result_writer.resource_eval.resource_eval_s3").ResourceEvalS3
ResultWriter: Any = _map_module("result_writer.result_writer_decl").ResultWriter

_PATCHED = "_stp_distributed_map_patched"
JSONL = "JSONL"
# AWS's cap on a batch's items: the payload limit of a child execution's input.
MAX_BATCH_BYTES = 256 * 1024
# Threads a map run uses at most when MaxConcurrency is unbounded: the handlers share this
# process, so more would only interleave them.
LOCAL_WORKER_CAP = 64
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
_BATCHER_FIELDS = frozenset(
    {
        "MaxItemsPerBatch",
        "MaxItemsPerBatchPath",
        "MaxInputBytesPerBatch",
        "MaxInputBytesPerBatchPath",
        "BatchInput",
    }
)
_TOLERANCE_FIELDS = (
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
)


class DistributedMapDefinitionError(ValueError):
    """A Map state uses Distributed Map fields in a way the local runtime cannot run as AWS."""


@dataclass(frozen=True)
class MapSpec:
    """What the patch reads from one Map state's definition."""

    batcher: dict[str, Any] | None
    count_declared: bool
    percentage_declared: bool
    execution_type: str = "STANDARD"


@dataclass
class ChildRecord:
    """One child execution of a map run, as the ResultWriter exports it."""

    index: int
    name: str
    input: Any
    items: int
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    stop: datetime.datetime | None = None


class _ToleratingPool(JobPool):
    """moto's job pool that stops handing out jobs once the failure threshold is exceeded."""

    def __init__(self, job_program: Any, job_inputs: list[Any], tolerance: _Tolerance) -> None:
        super().__init__(job_program=job_program, job_inputs=job_inputs)
        self.tolerance = tolerance
        self.records: dict[int, ChildRecord] = {}
        self.lock = threading.Lock()
        # Counted under ``lock``: a job handed out is not yet a record, so the records alone
        # cannot tell whether every started child has finished.
        self.handed_out = 0
        self.finished = 0

    def next_job(self) -> Any:
        with self.lock:
            if self.tolerance.exceeded:
                return None
            job = super().next_job()
            if job is not None:
                self.handed_out += 1
            return job

    def close_job(self, job: Job) -> None:
        super().close_job(job)
        # A pool that stopped early never closes its remaining jobs: end the wait.
        if self.tolerance.exceeded and self.all_started_closed():
            self._termination_event.set()

    def all_started_closed(self) -> bool:
        with self.lock:
            return self.finished == self.handed_out


@dataclass
class _Tolerance:
    total_items: int
    count: int | None
    percentage: float | None
    failed_items: int = 0
    exceeded: bool = False

    def add_failure(self, items: int) -> None:
        self.failed_items += items
        over_count = self.count is not None and self.failed_items > self.count
        over_percentage = (
            self.percentage is not None
            and self.failed_items * 100.0 > self.percentage * self.total_items
        )
        if over_count or over_percentage:
            self.exceeded = True


class _HonouredFieldsFilter(logging.Filter):
    """Drops moto's warning that tolerated-failure fields "have no effect": here they do."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ToleratedFailure" not in record.getMessage()


def install() -> None:
    """Install the patches (idempotent)."""
    if getattr(AmazonStateLanguageParser, _PATCHED, False):
        return
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").addFilter(
        _HonouredFieldsFilter()
    )
    AmazonStateLanguageParser.parse = staticmethod(  # type: ignore[method-assign, assignment]
        _parse_with_map_specs(AmazonStateLanguageParser.parse)
    )
    input_type.InputType.__init__ = _jsonl_input_type(input_type.InputType.__init__)
    item_reader_decl.resource_output_transformer_for = _jsonl_transformer(
        item_reader_decl.resource_output_transformer_for
    )
    DistributedIterationComponent._map_run = _map_run
    for worker in (DistributedItemProcessorWorker, DistributedIteratorWorker):
        worker._eval_job = _recorded(worker._eval_job)
    ResourceEvalS3._handle_put_object = staticmethod(_write_results)
    ResultWriter._eval_body = _result_writer_on_state_input
    setattr(AmazonStateLanguageParser, _PATCHED, True)


# --- 1. ItemBatcher and the tolerance fields, read before moto parses ---------------------


def map_specs(definition: Mapping[str, Any]) -> dict[str, MapSpec]:
    """The Map states' batcher and tolerance declarations by state name, taking every
    ``ItemBatcher`` out of ``definition`` (which this changes) so moto can parse the rest."""
    specs: dict[str, MapSpec] = {}
    for name, state in _states(definition):
        if state.get("Type") != "Map":
            continue
        batcher = state.pop("ItemBatcher", None)
        if batcher is not None:
            _check_batcher(name, state, batcher)
        percentage = state.get("ToleratedFailurePercentage")
        if isinstance(percentage, int) and not isinstance(percentage, bool):
            # moto's grammar wants a decimal point; AWS takes any number from 0 to 100.
            state["ToleratedFailurePercentage"] = float(percentage)
        config = (state.get("ItemProcessor") or {}).get("ProcessorConfig") or {}
        execution_type = config.get("ExecutionType", "STANDARD")
        if execution_type == "EXPRESS":
            # moto's grammar takes STANDARD only; children run in this process either way,
            # and the result files name them as express executions.
            config["ExecutionType"] = "STANDARD"
        specs[name] = MapSpec(
            batcher=batcher,
            count_declared=any(key in state for key in _TOLERANCE_FIELDS[:2]),
            percentage_declared=any(key in state for key in _TOLERANCE_FIELDS[2:]),
            execution_type=execution_type,
        )
    return specs


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _states(state[key])


def _check_batcher(name: str, state: Mapping[str, Any], batcher: Any) -> None:
    where = f"state {name!r}: ItemBatcher"
    if not isinstance(batcher, dict) or not batcher:
        raise DistributedMapDefinitionError(f"{where} must be a non-empty object")
    unknown = sorted(set(batcher) - _BATCHER_FIELDS)
    if unknown:
        raise DistributedMapDefinitionError(f"{where} has unknown field(s) {', '.join(unknown)}")
    if not any(key != "BatchInput" for key in batcher):
        raise DistributedMapDefinitionError(
            f"{where} needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path forms)"
        )
    if "ItemSelector" in state or "Parameters" in state:
        raise DistributedMapDefinitionError(
            f"{where} beside ItemSelector is not run by the local runtime"
        )
    if "$$" in json.dumps(batcher.get("BatchInput", {})):
        raise DistributedMapDefinitionError(
            f"{where}: context paths ($$) in BatchInput are not run by the local runtime"
        )


def _parse_with_map_specs(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    @functools.wraps(parse)
    def parse_definition(definition: str) -> Any:
        try:
            document = json.loads(definition)
        except ValueError:
            return parse(definition)  # moto reports the syntax error
        if not isinstance(document, dict):
            return parse(definition)
        specs = map_specs(document)
        program, tree = parse(json.dumps(document))
        for component in _components(program):
            if isinstance(component, state_map.StateMap) and component.name in specs:
                component.iteration_component._stp_map_spec = specs[component.name]
                # Exported even when the map run fails: the iteration needs it then.
                component.iteration_component._stp_result_writer = component.result_writer
        return program, tree

    return parse_definition


def _components(root: Any) -> Iterator[Any]:
    """Every evaluation component reachable from ``root`` (each once)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, EvalComponent):
            yield current
            stack.extend(vars(current).values())
        elif isinstance(current, list | tuple):
            stack.extend(current)
        elif isinstance(current, dict):
            stack.extend(current.values())
        elif hasattr(current, "__dict__") and type(current).__module__.startswith("moto."):
            stack.extend(vars(current).values())


# --- 2. JSONL item reader ----------------------------------------------------------------


class _JsonlInputType(str):
    """Stands in for moto's ``InputTypeValue`` member, which has no JSONL."""

    value = JSONL


def _jsonl_input_type(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def initialise(self: Any, input_type: str) -> None:
        if input_type == JSONL:
            self.input_type_value = _JsonlInputType(JSONL)
            return
        init(self, input_type)

    return initialise


class JsonLinesTransformer(ResourceOutputTransformer):  # type: ignore[misc]
    """One item a non-blank line of the object (``MaxItems`` honoured)."""

    def _eval_body(self, env: Environment) -> None:
        reader_config = env.stack.pop()
        body: str = env.stack.pop()
        items = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError:
                _fail(
                    env,
                    StatesErrorNameType.StatesItemReaderFailed,
                    f"line {number} of the JSONL item source is not JSON",
                    HistoryEventType.TaskFailed,
                )
        max_items = reader_config.get("MaxItemsValue")
        env.stack.append(items[:max_items] if max_items else items)


def _jsonl_transformer(factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(factory)
    def transformer_for(input_type: Any) -> Any:
        if isinstance(input_type.input_type_value, _JsonlInputType):
            return JsonLinesTransformer()
        return factory(input_type)

    return transformer_for


# --- 3. The map run: batches, per-child records, tolerated failures ----------------------


def _map_run(self: DistributedIterationComponent, env: Environment, eval_input: Any) -> None:
    items: list[Any] = env.stack.pop()
    spec: MapSpec = getattr(self, "_stp_map_spec", MapSpec(None, False, False))
    state_input = env.states.get_input()
    jobs = batches(items, spec.batcher, state_input) if spec.batcher else [(x, 1) for x in items]
    tolerance = _Tolerance(
        total_items=len(items),
        count=int(eval_input.tolerated_failure_count) if spec.count_declared else None,
        percentage=float(eval_input.tolerated_failure_percentage)
        if spec.percentage_declared
        else None,
    )
    if not spec.count_declared and not spec.percentage_declared:
        tolerance.count = 0
    pool = _ToleratingPool(self._get_iteration_program(), [job for job, _ in jobs], tolerance)
    pool.item_counts = [count for _, count in jobs]  # type: ignore[attr-defined]
    map_run_record = eval_input.map_run_record
    map_run_record.stp_records = pool.records
    map_run_record.stp_execution_type = spec.execution_type
    max_concurrency = map_run_record.max_concurrency
    workers = len(jobs) if max_concurrency == DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
    for _ in range(max(1, min(workers, len(jobs), LOCAL_WORKER_CAP))):
        self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
    if jobs:
        pool.await_jobs()
    worker_exception = pool.get_worker_exception()
    if worker_exception is not None:
        raise worker_exception
    if tolerance.exceeded:
        writer = getattr(self, "_stp_result_writer", None)
        if writer is not None:
            # AWS exports the children that ran before it fails the map run.
            records = sorted(pool.records.values(), key=lambda record: record.index)
            env.stack.append([r.output for r in records if r.status == "SUCCEEDED"])
            writer.eval(env)
            env.stack.pop()  # the export's details: a failed map state has no output
        _fail(
            env,
            StatesErrorNameType.StatesExceedToleratedFailureThreshold,
            f"{THRESHOLD_CAUSE}: {tolerance.failed_items} of {tolerance.total_items} items failed",
            HistoryEventType.MapRunFailed,
        )
    records = sorted(pool.records.values(), key=lambda record: record.index)
    env.stack.append([record.output for record in records if record.status == "SUCCEEDED"])


def batches(
    items: list[Any], batcher: Mapping[str, Any], state_input: Any
) -> list[tuple[dict[str, Any], int]]:
    """``items`` grouped as the ItemBatcher says: (child input, number of items) each."""
    max_items = _limit(batcher, "MaxItemsPerBatch", state_input)
    max_bytes = min(
        _limit(batcher, "MaxInputBytesPerBatch", state_input) or MAX_BATCH_BYTES, MAX_BATCH_BYTES
    )
    batch_input = _resolved(batcher["BatchInput"], state_input) if "BatchInput" in batcher else None
    grouped: list[tuple[dict[str, Any], int]] = []
    current: list[Any] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":")).encode())
        full = max_items is not None and len(current) >= max_items
        if current and (full or size + item_size > max_bytes):
            grouped.append((_batch(current, batch_input), len(current)))
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        grouped.append((_batch(current, batch_input), len(current)))
    return grouped


def _batch(items: list[Any], batch_input: Any) -> dict[str, Any]:
    batch: dict[str, Any] = {"Items": items}
    if batch_input is not None:
        batch["BatchInput"] = batch_input
    return batch


def _limit(batcher: Mapping[str, Any], name: str, state_input: Any) -> int | None:
    if name in batcher:
        raw = batcher[name]
    elif f"{name}Path" in batcher:
        raw = extract_json(batcher[f"{name}Path"], state_input)
    else:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 1 or raw != int(raw):
        raise DistributedMapDefinitionError(
            f"ItemBatcher {name} must be a positive integer, got {raw!r}"
        )
    return int(raw)


def _resolved(template: Any, state_input: Any) -> Any:
    """``template`` with every ``"key.$": path`` replaced by ``"key": value at path``."""
    if isinstance(template, dict):
        resolved = {}
        for key, value in template.items():
            if key.endswith(".$"):
                resolved[key[:-2]] = extract_json(value, state_input)
            else:
                resolved[key] = _resolved(value, state_input)
        return resolved
    if isinstance(template, list):
        return [_resolved(value, state_input) for value in template]
    return template


def _recorded(eval_job: Callable[..., None]) -> Callable[..., None]:
    """A worker's job evaluation that records the child's status, output, error and cause."""

    @functools.wraps(eval_job)
    def evaluate(worker: Any, env: Environment, job: Job) -> None:
        pool = worker._job_pool
        if not isinstance(pool, _ToleratingPool):
            eval_job(worker, env, job)
            return
        record = ChildRecord(
            index=job.job_index,
            name=str(uuid.uuid4()),
            input=job.job_input,
            items=pool.item_counts[job.job_index],  # type: ignore[attr-defined]
        )
        with pool.lock:
            pool.records[job.job_index] = record
        # moto counts one item a child; a batch holds ``record.items`` (DescribeMapRun's
        # itemCounts count items, as on AWS).
        items = worker._map_run_record.item_counter
        extra = record.items - 1
        items.total.count(extra)
        items.running.count(extra)
        try:
            eval_job(worker, env, job)
        finally:
            items.running.offset(-extra)
            state = env.program_state()
            if isinstance(state, ProgramEnded):
                record.status, record.output = "SUCCEEDED", job.job_output
                items.succeeded.count(extra)
                items.results_written.count(extra)
            else:
                items.failed.count(extra)
                record.status = _status_of(state)
                error = getattr(state, "error", None)
                if isinstance(error, dict):
                    record.error, record.cause = error.get("error"), error.get("cause")
                elif isinstance(state, ProgramStopped):
                    record.error, record.cause = state.error, state.cause
            record.stop = datetime.datetime.now(datetime.UTC)
            with pool.lock:
                if record.status != "SUCCEEDED":
                    pool.tolerance.add_failure(record.items)
                pool.finished += 1

    return evaluate


def _status_of(state: Any) -> str:
    if isinstance(state, ProgramTimedOut):
        return "TIMED_OUT"
    if isinstance(state, ProgramStopped):
        return "ABORTED"
    if isinstance(state, ProgramError):
        return "FAILED"
    return "FAILED"


def _fail(
    env: Environment, error: StatesErrorNameType, cause: str, event: HistoryEventType
) -> None:
    error_name = StatesErrorName(typ=error)
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=event,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                mapRunFailedEventDetails=MapRunFailedEventDetails(
                    error=error_name.error_name, cause=cause
                )
            ),
        )
    )


# --- 4. ResultWriter: the child executions, by status, and the manifest -------------------


def _result_writer_on_state_input(writer: Any, env: Environment) -> None:
    """The ResultWriter with its ``Parameters`` paths read from the state's input, as on AWS
    (moto reads them from the map's results)."""
    outputs = env.stack.pop()
    depth = len(env.stack)
    env.stack.append(env.states.get_input())
    writer.parargs.eval(env=env)
    parameters = env.stack.pop()
    del env.stack[depth:]
    env.stack.append(outputs)
    env.stack.append(parameters)
    writer.resource_eval.eval_resource(env=env)


def _write_results(env: Environment, resource_runtime_part: Any, state_credentials: Any) -> None:
    parameters = env.stack.pop()
    env.stack.pop()  # the map's outputs: the records below carry them with their inputs
    s3: Any = boto_client_for(
        service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    map_run_record = env.map_run_record_pool_manager.get_all().pop()
    map_run_arn = map_run_record.map_run_arn
    map_run_id = map_run_arn.split(":")[-1]
    prefix = parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    bucket = parameters["Bucket"]
    records: dict[int, ChildRecord] = getattr(map_run_record, "stp_records", {})
    by_status: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for record in sorted(records.values(), key=lambda r: r.index):
        status = "SUCCEEDED" if record.status == "SUCCEEDED" else "FAILED"
        by_status[status].append(
            child_execution(
                record,
                map_run_arn,
                env.states.context_object.context_object_data,
                getattr(map_run_record, "stp_execution_type", "STANDARD"),
            )
        )
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, executions in by_status.items():
        if not executions:
            continue
        key = f"{prefix}{map_run_id}/{status}_0.json"
        body = json.dumps(executions).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
    manifest_key = f"{prefix}{map_run_id}/manifest.json"
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append(
        {
            "MapRunArn": map_run_arn,
            "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
        }
    )


def child_execution(
    record: ChildRecord, map_run_arn: str, context: Mapping[str, Any], execution_type: str
) -> dict[str, Any]:
    """One child execution as the ResultWriter's result files hold it."""
    machine = context["StateMachine"]["Id"]
    # A child's ARN: the map run's, as an (express) execution, with the child's name.
    kind = "express" if execution_type == "EXPRESS" else "execution"
    child_arn = map_run_arn.replace(":mapRun:", f":{kind}:", 1) + f":{record.name}"
    execution: dict[str, Any] = {
        "ExecutionArn": child_arn,
        "Input": json.dumps(record.input),
        "InputDetails": {"Included": True},
        "Name": record.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": _timestamp(record.start),
        "StateMachineArn": machine,
        "Status": record.status,
        "StopDate": _timestamp(record.stop or record.start),
    }
    if record.status == "SUCCEEDED":
        execution["Output"] = json.dumps(record.output)
        execution["OutputDetails"] = {"Included": True}
    else:
        execution["Error"] = record.error or "States.TaskFailed"
        execution["Cause"] = record.cause or ""
    return execution


def _timestamp(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
