"""EventBridge target input: ``Input``, ``InputPath`` and ``InputTransformer``.

An ``InputTemplate`` placeholder ``<name>`` is replaced by the value ``InputPathsMap[name]``
selects from the event. Inside a JSON string (``"... <name> ..."``) the value is inserted as
text, escaped for that string; outside one, as JSON (a string gains its quotes). A template
that is not JSON at all (``<instance> is in state <state>``) receives values as plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jsonpath_ng.ext.parser import parse as parse_json_path

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_MISSING = object()


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule_arn: str) -> str:
    """The text EventBridge hands the target for ``event`` (JSON for a Step Functions target)."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        selected = select(event, str(target["InputPath"]))
        return json.dumps(None if selected is _MISSING else selected)
    transformer = target.get("InputTransformer")
    if transformer:
        return render_template(
            str(transformer["InputTemplate"]),
            dict(transformer.get("InputPathsMap", {})),
            event,
            rule_arn,
        )
    return json.dumps(event)


def render_template(
    template: str, paths: Mapping[str, str], event: Mapping[str, Any], rule_arn: str = ""
) -> str:
    """Fill ``template``'s placeholders from ``event`` (see the module docstring)."""
    values: dict[str, Any] = {name: select(event, path) for name, path in paths.items()}
    values.update(_predefined_variables(event, rule_arn))
    is_json = template.lstrip()[:1] in ("{", "[", '"')
    pieces: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in values:
            continue
        pieces.append(template[position : match.start()])
        value = values[name]
        if isinstance(value, _Raw):
            pieces.append(str(value))
        elif not is_json:
            pieces.append(_as_text(value))
        elif _inside_json_string(template, match.start()):
            # Escape for the surrounding string literal, without adding quotes.
            pieces.append(json.dumps(_as_text(value))[1:-1])
        else:
            pieces.append("null" if value is _MISSING else json.dumps(value))
        position = match.end()
    pieces.append(template[position:])
    return "".join(pieces)


def select(event: Mapping[str, Any], path: str) -> Any:
    """The value at JSONPath ``path`` in ``event``; a list when the path has wildcards."""
    matches = parse_json_path(path).find(event)
    if not matches:
        return _MISSING
    if "*" in path or len(matches) > 1:
        return [match.value for match in matches]
    return matches[0].value


def _predefined_variables(event: Mapping[str, Any], rule_arn: str) -> dict[str, Any]:
    """The variables EventBridge defines without a path."""
    without_detail = {key: value for key, value in event.items() if key != "detail"}
    return {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_arn.rsplit("/", 1)[-1],
        "aws.events.event.ingestion-time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws.events.event": _Raw(json.dumps(without_detail)),
        "aws.events.event.json": _Raw(json.dumps(event)),
    }


class _Raw(str):
    """A value EventBridge inserts unescaped (the whole event as JSON)."""


def _as_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _inside_json_string(template: str, offset: int) -> bool:
    """True when ``offset`` lies within a string literal of the JSON ``template``."""
    inside = False
    escaped = False
    for character in template[:offset]:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = inside
        elif character == '"':
            inside = not inside
    return inside
