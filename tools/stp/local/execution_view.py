"""An execution as the Step Functions console shows it, on one self-contained HTML page.

The state machine's graph is drawn from its ASL (``Next``, ``Default``, ``Choices`` and
``Catch`` edges; a Map's or Parallel's inner states inside its box), each state coloured by
its outcome in this execution; below it the states with their status, duration, retries,
error and cause, and the full event history. No script, no external resource: it opens the
same from a file, from `stp up` and in a browser without network.

>>> page = execution_page(read_execution(client, arn))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stp.local.executions import execution_history, execution_states
from stp.local.models import StateProgress

NODE_WIDTH = 200
NODE_HEIGHT = 44
CHILD_HEIGHT = 22
LAYER_GAP = 56
COLUMN_GAP = 36
MARGIN = 40
STATUS_COLOURS = {
    "SUCCEEDED": ("#e3f4e1", "#2e7d32"),
    "CAUGHT": ("#fff1d6", "#c77700"),
    "FAILED": ("#fde2e1", "#c62828"),
    "RUNNING": ("#e1ecfb", "#1565c0"),
    "NOT RUN": ("#f3f4f6", "#9aa0a6"),
}
_TERMINAL_TYPES = ("Succeed", "Fail")


@dataclass(frozen=True)
class ExecutionView:
    """What the page shows: the description, the definition, the history, the states."""

    description: dict[str, Any]
    definition: dict[str, Any]
    history: list[dict[str, Any]]
    states: tuple[StateProgress, ...]

    @property
    def name(self) -> str:
        """The execution's name (the run id of a trading run)."""
        return str(self.description["name"])

    def outcome_of(self, state: str) -> str:
        """The state's last outcome in this execution (``NOT RUN`` when never entered)."""
        records = [record for record in self.states if record.name == state]
        return records[-1].status if records else "NOT RUN"

    def retries_of(self, state: str) -> int:
        """Failed attempts a Retry absorbed, over every run of the state."""
        return sum(record.retries for record in self.states if record.name == state)


def read_execution(client: Any, execution_arn: str) -> ExecutionView:
    """Everything the page needs, read through a Step Functions client (any endpoint)."""
    description = client.describe_execution(executionArn=execution_arn)
    description.pop("ResponseMetadata", None)
    machine = client.describe_state_machine_for_execution(executionArn=execution_arn)
    history = execution_history(client, execution_arn)
    finished = description["status"] != "RUNNING"
    states = execution_states(history, finished=finished)
    return ExecutionView(description, json.loads(machine["definition"]), history, states)


def execution_page(view: ExecutionView, *, back_link: str | None = None) -> str:
    """The HTML page of one execution."""
    description = view.description
    status = str(description["status"])
    started = description.get("startDate")
    stopped = description.get("stopDate")
    duration = (
        f"{(stopped - started).total_seconds():.2f} s"
        if isinstance(started, datetime) and isinstance(stopped, datetime)
        else "running"
    )
    failure = ""
    if description.get("error") or description.get("cause"):
        failure = (
            f'<p class="failure"><b>{_e(description.get("error"))}</b> '
            f"{_e(description.get('cause'))}</p>"
        )
    back = f'<p><a href="{_e(back_link)}">all executions</a></p>' if back_link else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{_e(view.name)} · {_e(status)}</title>
<style>{_STYLE}</style></head>
<body>
{back}<h1>Execution {_e(view.name)} <span class="badge s-{status}">{_e(status)}</span></h1>
<p class="meta">{_e(description.get("executionArn"))}<br>
started {_e(_time(started))} · {duration} ·
state machine {_e(description.get("stateMachineArn"))}</p>
{failure}
<h2>Graph</h2>
{graph_svg(view)}
{_legend()}
<h2>States</h2>
{_states_table(view.states)}
<h2>Event history</h2>
{_history_table(view.history)}
</body></html>
"""


def executions_index(rows: Sequence[Mapping[str, Any]], link: str) -> str:
    """A page listing executions (``ListExecutions`` items), each linking to ``link`` +
    its ARN."""
    body = "".join(
        f'<tr><td><a href="{_e(link + str(row["executionArn"]))}">{_e(row["name"])}</a></td>'
        f'<td><span class="badge s-{_e(row["status"])}">{_e(row["status"])}</span></td>'
        f"<td>{_e(_time(row.get('startDate')))}</td>"
        f"<td>{_e(str(row['stateMachineArn']).rsplit(':', 1)[-1])}</td></tr>"
        for row in rows
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Executions</title>
<style>{_STYLE}</style></head><body>
<h1>Executions</h1>
<table><thead><tr><th>name</th><th>status</th><th>started</th><th>state machine</th></tr></thead>
<tbody>{body or '<tr><td colspan="4">none yet</td></tr>'}</tbody></table>
</body></html>
"""


# --- the graph -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    label: str
    kind: str  # next, choice, catch


def graph_svg(view: ExecutionView) -> str:
    """The state machine drawn as SVG, states coloured by their outcome."""
    states: dict[str, Any] = view.definition.get("States", {})
    edges = _distinct(_edges(view.definition))
    layers = _layers(str(view.definition.get("StartAt")), states, edges)
    heights = {
        name: NODE_HEIGHT + CHILD_HEIGHT * len(_children(states.get(name, {}))) for name in states
    }
    heights["__start__"] = heights["__end__"] = 28
    positions: dict[str, tuple[float, float]] = {}
    widest = max(len(layer) for layer in layers)
    width = MARGIN * 2 + widest * NODE_WIDTH + (widest - 1) * COLUMN_GAP
    y = float(MARGIN)
    for layer in layers:
        row_width = len(layer) * NODE_WIDTH + (len(layer) - 1) * COLUMN_GAP
        x = (width - row_width) / 2
        for name in layer:
            positions[name] = (x, y)
            x += NODE_WIDTH + COLUMN_GAP
        y += max(heights[name] for name in layer) + LAYER_GAP
    height = int(y - LAYER_GAP + MARGIN)
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="state machine graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#5f6368"/></marker></defs>',
    ]
    for edge in edges:
        parts.append(_edge_svg(edge, positions, heights))
    for name, (x, top) in positions.items():
        parts.append(_node_svg(name, x, top, heights[name], states, view))
    parts.append("</svg>")
    return "\n".join(parts)


def _edges(definition: Mapping[str, Any]) -> Iterator[_Edge]:
    states: dict[str, Any] = definition.get("States", {})
    yield _Edge("__start__", str(definition.get("StartAt")), "", "next")
    for name, state in states.items():
        if state.get("Next"):
            yield _Edge(name, state["Next"], "", "next")
        for index, choice in enumerate(state.get("Choices", [])):
            yield _Edge(name, choice["Next"], _choice_label(choice, index), "choice")
        if state.get("Default"):
            yield _Edge(name, state["Default"], "Default", "choice")
        for catch in state.get("Catch", []):
            yield _Edge(name, catch["Next"], "Catch", "catch")
        if state.get("End") or state.get("Type") in _TERMINAL_TYPES:
            yield _Edge(name, "__end__", "", "next")


def _distinct(edges: Iterator[_Edge]) -> list[_Edge]:
    """One edge per pair of states: a transition drawn once, its first reason kept (a
    state's ``Next`` before a Catch to the same state, a choice rule before the default)."""
    kept: dict[tuple[str, str], _Edge] = {}
    for edge in edges:
        kept.setdefault((edge.source, edge.target), edge)
    return list(kept.values())


def _layers(start: str, states: Mapping[str, Any], edges: list[_Edge]) -> list[list[str]]:
    """States in layers by their longest path from the start (loops ignored)."""
    following: dict[str, list[str]] = {}
    for edge in edges:
        following.setdefault(edge.source, []).append(edge.target)
    order: list[str] = []
    on_path: set[str] = set()
    seen: set[str] = set()
    forward: dict[str, list[str]] = {}

    def visit(node: str) -> None:
        seen.add(node)
        on_path.add(node)
        for target in following.get(node, []):
            if target in on_path:
                continue  # a loop back: not a layer constraint
            forward.setdefault(node, []).append(target)
            if target not in seen:
                visit(target)
        on_path.discard(node)
        order.append(node)

    visit("__start__")
    for name in states:  # unreachable states still appear
        if name not in seen:
            forward.setdefault("__start__", []).append(name)
            visit(name)
    rank = {node: 0 for node in order}
    for node in reversed(order):
        for target in forward.get(node, []):
            rank[target] = max(rank[target], rank[node] + 1)
    rank["__end__"] = max(rank.values()) + 1 if "__end__" in rank else 0
    layers: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for node in reversed(order):  # discovery order keeps siblings in ASL order
        layers[rank[node]].append(node)
    return [layer for layer in layers if layer]


def _node_svg(
    name: str, x: float, top: float, height: int, states: Mapping[str, Any], view: ExecutionView
) -> str:
    if name in ("__start__", "__end__"):
        label = "Start" if name == "__start__" else "End"
        cx = x + NODE_WIDTH / 2
        return (
            f'<g class="terminal"><rect x="{cx - 36}" y="{top}" width="72" height="28" rx="14" '
            f'fill="#ffffff" stroke="#5f6368"/><text x="{cx}" y="{top + 18}" '
            f'text-anchor="middle">{label}</text></g>'
        )
    outcome = view.outcome_of(name)
    fill, stroke = STATUS_COLOURS[outcome]
    kind = states.get(name, {}).get("Type", "")
    retries = view.retries_of(name)
    summary = f"{kind} · {outcome.lower()}" + (
        f" · {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    )
    lines = [
        f'<g class="state" data-state="{_e(name)}" data-status="{outcome}">',
        f"<title>{_e(name)} ({_e(kind)}): {outcome}</title>",
        f'<rect x="{x}" y="{top}" width="{NODE_WIDTH}" height="{height}" rx="6" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{3 if outcome in ("FAILED", "CAUGHT") else 1.5}"/>',
        f'<text x="{x + 10}" y="{top + 18}" class="name">{_e(_short(name))}</text>',
        f'<text x="{x + 10}" y="{top + 34}" class="kind">{_e(summary)}</text>',
    ]
    for index, child in enumerate(_children(states.get(name, {}))):
        child_outcome = view.outcome_of(child)
        child_fill, child_stroke = STATUS_COLOURS[child_outcome]
        child_top = top + NODE_HEIGHT + index * CHILD_HEIGHT - 4
        lines.append(
            f'<g class="state child" data-state="{_e(child)}" data-status="{child_outcome}">'
            f'<rect x="{x + 14}" y="{child_top}" width="{NODE_WIDTH - 28}" height="18" rx="4" '
            f'fill="{child_fill}" stroke="{child_stroke}"/><text x="{x + 20}" '
            f'y="{child_top + 13}" class="kind">{_e(_short(child, 26))}</text></g>'
        )
    lines.append("</g>")
    return "".join(lines)


def _edge_svg(
    edge: _Edge, positions: Mapping[str, tuple[float, float]], heights: Mapping[str, int]
) -> str:
    if edge.source not in positions or edge.target not in positions:
        return ""
    sx, sy = positions[edge.source]
    tx, ty = positions[edge.target]
    x1, y1 = sx + NODE_WIDTH / 2, sy + heights[edge.source]
    x2, y2 = tx + NODE_WIDTH / 2, ty
    if ty <= sy:  # a loop back up: around the right side
        side = max(sx, tx) + NODE_WIDTH + COLUMN_GAP / 2
        right_source, right_target = sx + NODE_WIDTH, tx + NODE_WIDTH
        path = (
            f"M{right_source},{sy + 14} C{side},{sy + 14} {side},{ty + 14} {right_target},{ty + 14}"
        )
    else:
        middle = (y1 + y2) / 2
        path = f"M{x1},{y1} C{x1},{middle} {x2},{middle} {x2},{y2}"
    dashed = ' stroke-dasharray="5 4"' if edge.kind == "catch" else ""
    colour = "#c62828" if edge.kind == "catch" else "#5f6368"
    label = ""
    if edge.label:
        # Near the target, where edges leaving one state have parted.
        lx, ly = x1 + (x2 - x1) * 0.7, y1 + (y2 - y1) * 0.7
        label = (
            f'<text x="{lx + 4}" y="{ly}" class="edge-label">{_e(_short(edge.label, 28))}</text>'
        )
    return (
        f'<g class="edge {edge.kind}"><path d="{path}" fill="none" stroke="{colour}"{dashed} '
        f'marker-end="url(#arrow)"/>{label}</g>'
    )


def _children(state: Mapping[str, Any]) -> list[str]:
    """The states inside a Map or Parallel state, in ASL order."""
    inner: list[str] = []
    for key in ("ItemProcessor", "Iterator"):
        inner.extend(state.get(key, {}).get("States", {}))
    for branch in state.get("Branches", []):
        inner.extend(branch.get("States", {}))
    return inner


def _choice_label(choice: Mapping[str, Any], index: int) -> str:
    variable = choice.get("Variable")
    for key, value in choice.items():
        if key not in ("Variable", "Next") and variable:
            return f"{variable.rsplit('.', 1)[-1]} {key} {value}"
    return f"rule {index + 1}"


# --- tables ----------------------------------------------------------------------------------


def _states_table(states: tuple[StateProgress, ...]) -> str:
    rows = "".join(
        f'<tr class="s-{s.status}" data-state="{_e(s.name)}"><td>{_e(s.name)}</td>'
        f"<td>{_e(s.type)}</td>"
        f'<td><span class="badge s-{s.status}">{s.status}</span></td>'
        f"<td>{s.duration:.2f} s</td><td>{s.retries}</td><td>{_e(s.error or '')}</td>"
        f"<td>{_details(s.cause)}</td></tr>"
        for s in sorted(states, key=lambda record: record.entered)
    )
    return (
        "<table><thead><tr><th>state</th><th>type</th><th>status</th><th>duration</th>"
        f"<th>retries</th><th>error</th><th>cause</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _history_table(history: list[dict[str, Any]]) -> str:
    start = history[0]["timestamp"] if history else None
    rows = []
    for event in history:
        details: dict[str, Any] = next(
            (value for key, value in event.items() if key.endswith("EventDetails")), {}
        )
        elapsed = (
            f"{(event['timestamp'] - start).total_seconds() * 1000:.0f} ms"
            if isinstance(start, datetime)
            else ""
        )
        shown = {key: value for key, value in details.items() if key != "name"}
        rows.append(
            f"<tr><td>{event['id']}</td><td>{_e(event['type'])}</td>"
            f"<td>{_e(details.get('name', ''))}</td><td>{elapsed}</td>"
            f"<td>{_details(json.dumps(shown, default=str) if shown else '')}</td></tr>"
        )
    return (
        "<table><thead><tr><th>id</th><th>type</th><th>state</th><th>elapsed</th>"
        f"<th>details</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _legend() -> str:
    items = "".join(
        f'<span class="key"><span class="swatch" style="background:{fill};border-color:{stroke}">'
        f"</span>{status.lower()}</span>"
        for status, (fill, stroke) in STATUS_COLOURS.items()
    )
    return f'<p class="legend">{items} · dashed: Catch</p>'


def _details(text: str | None) -> str:
    if not text:
        return ""
    if len(text) <= 120:
        return f"<code>{_e(text)}</code>"
    return (
        f"<details><summary><code>{_e(text[:100])}…</code></summary><pre>{_e(text)}</pre></details>"
    )


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(value: Any) -> str:
    return (
        value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else str(value or "")
    )


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #202124; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.meta { color: #5f6368; font-size: 12px; }
.failure { background: #fde2e1; border-left: 4px solid #c62828; padding: 8px 12px; }
.badge { padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.s-SUCCEEDED .badge, .badge.s-SUCCEEDED { background: #e3f4e1; color: #2e7d32; }
.badge.s-FAILED, .badge.s-ABORTED, .badge.s-TIMED_OUT { background: #fde2e1; color: #c62828; }
.badge.s-CAUGHT { background: #fff1d6; color: #c77700; }
.badge.s-RUNNING { background: #e1ecfb; color: #1565c0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; border-bottom: 1px solid #e0e0e0; padding: 4px 8px;
  vertical-align: top; }
td code { word-break: break-all; } pre { white-space: pre-wrap; word-break: break-all; }
svg.graph { max-width: 100%; height: auto; }
svg text { font: 13px system-ui, sans-serif; fill: #202124; }
svg text.kind, svg text.edge-label { font-size: 11px; fill: #5f6368; }
svg text.name { font-weight: 600; }
.legend .key { margin-right: 12px; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid; margin-right: 4px;
  vertical-align: middle; }
"""


# --- pages served by `stp up` ----------------------------------------------------------------

EXECUTIONS_PATH = "/_stp/executions"


def list_executions(client: Any, state_machine_arn: str | None = None) -> list[dict[str, Any]]:
    """``ListExecutions`` items of one state machine, or of all of them, newest first."""
    machines = (
        [state_machine_arn]
        if state_machine_arn
        else [
            machine["stateMachineArn"]
            for page in client.get_paginator("list_state_machines").paginate()
            for machine in page["stateMachines"]
        ]
    )
    rows = [
        execution
        for arn in machines
        for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn)
        for execution in page["executions"]
    ]
    return sorted(rows, key=lambda row: row["startDate"], reverse=True)


def execution_pages(client: Any) -> Any:
    """``pages(path, query)`` for `stp up`'s endpoint: ``/_stp/executions`` lists every
    execution, ``/_stp/executions/<execution ARN>`` shows one."""
    from stp.local.endpoint import PageAnswer

    html_type = "text/html; charset=utf-8"

    def pages(path: str, query: str) -> PageAnswer | None:
        if path.rstrip("/") == EXECUTIONS_PATH:
            index = executions_index(list_executions(client), f"{EXECUTIONS_PATH}/")
            return PageAnswer(200, html_type, index.encode())
        if not path.startswith(f"{EXECUTIONS_PATH}/"):
            return None
        arn = path[len(EXECUTIONS_PATH) + 1 :]
        try:
            view = read_execution(client, arn)
        except Exception as error:  # any client error: the page says which
            message = f"no execution {arn}: {error}"
            return PageAnswer(404, "text/plain; charset=utf-8", message.encode())
        page = execution_page(view, back_link=EXECUTIONS_PATH)
        return PageAnswer(200, html_type, page.encode())

    return pages
