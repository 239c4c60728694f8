"""Reads CloudFormation/SAM templates (YAML or JSON) with the short-form intrinsic tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that also understands ``!Ref``, ``!GetAtt``, ``!Sub`` and the other tags."""


def _construct_intrinsic(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    """``!Name value`` -> ``{"Fn::Name": value}`` (``Ref`` and ``Condition`` keep their name)."""
    name = tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if name == "GetAtt" and isinstance(value, str):
        # The short form is "Resource.Attribute", where the attribute may hold dots itself
        # (Outputs.Name of a nested stack).
        value = value.split(".", 1)
    if name in ("Ref", "Condition"):
        return {name: value}
    return {f"Fn::{name}": value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """The template at ``path`` as plain dicts and lists, intrinsics in their long form.

    >>> load_template(Path("template.yaml"))["Resources"]  # doctest: +SKIP
    """
    document = yaml.load(path.read_text(), Loader=_TemplateLoader)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a template (top level is not a mapping)")
    return document
