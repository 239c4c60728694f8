"""Adapts translated CloudFormation to what moto's CloudFormation can create.

Two gaps are closed here, each with a warning where something is lost: moto ignores a state
machine's ``DefinitionSubstitutions`` (so they become an ``Fn::Join`` CloudFormation resolves),
and it silently creates nothing for resource types it does not model, leaving references to
them empty (so those resources are removed and references become visible placeholders).
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation.parsing import NULL_MODELS, get_model_map

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
_SUBSTITUTION = re.compile(r"\$\{([^}!][^}]*)\}")


def placeholder(logical_id: str, attribute: str | None = None) -> str:
    """The value a reference to a skipped resource gets."""
    return f"stp-local-skipped:{logical_id}" + (f".{attribute}" if attribute else "")


def unsupported_resources(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> type of the resources moto's CloudFormation would not create.

    moto's own model registry decides, so a type it learns in a later release is created.
    """
    models = get_model_map()
    unsupported = {}
    for logical_id, resource in template.get("Resources", {}).items():
        kind = str(resource.get("Type", ""))
        if kind in NULL_MODELS:
            continue
        if kind not in models or kind.startswith("Custom::"):
            # Custom resources would need their provider Lambda to answer CloudFormation.
            unsupported[logical_id] = kind
    return unsupported


def skip_unsupported(template: dict[str, Any], stack_label: str) -> list[str]:
    """Remove the resources moto cannot create; placeholders replace references to them.

    Returns one warning per skipped resource and per replaced reference.
    """
    skipped = unsupported_resources(template)
    if not skipped:
        return []
    warnings = [
        f"{stack_label}/{logical_id} ({kind}): not supported by the emulation, not created"
        for logical_id, kind in skipped.items()
    ]
    resources: dict[str, Any] = template["Resources"]
    for logical_id in skipped:
        del resources[logical_id]
    for section in ("Resources", "Outputs", "Conditions"):
        for name, body in template.get(section, {}).items():
            where = f"{stack_label}/" + (name if section == "Resources" else f"{section}.{name}")
            replaced: list[str] = []
            template[section][name] = _replace_references(body, skipped, replaced)
            _drop_dependencies(template[section][name], skipped)
            warnings.extend(
                f"{where} refers to skipped {target}: placeholder '{placeholder(target)}'"
                for target in sorted(set(replaced))
            )
    return warnings


def inline_definition_substitutions(template: dict[str, Any]) -> None:
    """Rewrite each state machine's ``DefinitionSubstitutions`` into its ``DefinitionString``.

    Step Functions replaces ``${Name}`` for the given names only (everything else, ``$$.`` and
    JSONPath included, stays as written), so the definition becomes an ``Fn::Join`` of its
    literal pieces and the substitution values; CloudFormation then resolves the values.
    """
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != STATE_MACHINE:
            continue
        properties: dict[str, Any] = resource.get("Properties", {})
        substitutions: dict[str, Any] | None = properties.pop("DefinitionSubstitutions", None)
        definition = properties.get("DefinitionString")
        if not substitutions or definition is None:
            continue
        text = _literal_text(definition)
        parts: list[Any] = []
        position = 0
        for match in _SUBSTITUTION.finditer(text):
            if match.group(1) not in substitutions:
                continue
            parts.append(text[position : match.start()])
            parts.append(substitutions[match.group(1)])
            position = match.end()
        parts.append(text[position:])
        properties["DefinitionString"] = {"Fn::Join": ["", parts]}


def _literal_text(definition: Any) -> str:
    """A DefinitionString as text: a string, or samtranslator's ``Fn::Join`` of literal lines."""
    if isinstance(definition, str):
        return definition
    joined = definition.get("Fn::Join") if isinstance(definition, dict) else None
    if joined and all(isinstance(line, str) for line in joined[1]):
        return str(joined[0]).join(joined[1])
    raise ValueError(f"cannot substitute into a computed DefinitionString: {definition!r}")


def _replace_references(node: Any, skipped: dict[str, str], replaced: list[str]) -> Any:
    """``node`` with every Ref/GetAtt/Sub reference to a skipped resource made a placeholder."""
    if isinstance(node, list):
        return [_replace_references(item, skipped, replaced) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref" and value in skipped:
            replaced.append(value)
            return placeholder(value)
        if key == "Fn::GetAtt":
            target, attribute = value.split(".", 1) if isinstance(value, str) else value
            if target in skipped:
                replaced.append(target)
                return placeholder(target, attribute)
        if key == "Fn::Sub":
            return {"Fn::Sub": _replace_in_sub(value, skipped, replaced)}
    return {key: _replace_references(value, skipped, replaced) for key, value in node.items()}


def _replace_in_sub(value: Any, skipped: dict[str, str], replaced: list[str]) -> Any:
    """An ``Fn::Sub`` argument with ``${Skipped}``/``${Skipped.Attr}`` made placeholders."""
    text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])

    def substitute(match: re.Match[str]) -> str:
        target, _, attribute = match.group(1).partition(".")
        if target in skipped and target not in variables:
            replaced.append(target)
            return placeholder(target, attribute or None)
        return match.group(0)

    text = _SUBSTITUTION.sub(substitute, text)
    variables = _replace_references(variables, skipped, replaced)
    return text if isinstance(value, str) else [text, variables]


def _drop_dependencies(resource: Any, skipped: dict[str, str]) -> None:
    """Remove skipped resources from a resource's ``DependsOn``."""
    if not isinstance(resource, dict) or "DependsOn" not in resource:
        return
    depends = resource["DependsOn"]
    remaining = [
        name for name in ([depends] if isinstance(depends, str) else depends) if name not in skipped
    ]
    if remaining:
        resource["DependsOn"] = remaining
    else:
        del resource["DependsOn"]
