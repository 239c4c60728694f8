"""Turns a SAM template tree into CloudFormation the emulation can create (like `sam package`).

Local paths become artifacts in the emulated S3: a function's ``CodeUri`` (and a layer's
``ContentUri``) becomes a small zip that names its source directory (the Invoke server runs
the handler from there), a state
machine's ``DefinitionUri`` is inlined as ``Definition``, and a local nested
``AWS::Serverless::Application`` becomes a child template (itself packaged and translated)
whose URL is the application's ``Location``. Then samtranslator translates the template.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from stp.cfn_yaml import load_template
from stp.local.cfn_adapt import inline_definition_substitutions, skip_unsupported

# The zip member that records where a function's code lives on this machine.
SOURCE_MANIFEST = "stp-local-source.json"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


@dataclass
class Artifact:
    """An object `deploy` uploads to the artifact bucket before creating the stack."""

    key: str
    body: bytes


@dataclass
class PackagedTemplate:
    """A template translated to plain CloudFormation, with the artifacts it points at."""

    template: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    # Packaged local nested applications by logical id.
    children: dict[str, PackagedTemplate] = field(default_factory=dict)
    # What the emulation could not create, with the references that lost their target.
    warnings: list[str] = field(default_factory=list)


class _OfflinePolicyLoader(ManagedPolicyLoader):  # type: ignore[misc]
    """Managed policy names -> ARNs without asking IAM (there is no account to ask).

    samtranslator bundles the ARNs of the common managed policies; this loader is only its
    fallback for other names, and an AWS managed policy's ARN follows from its name.
    """

    def __init__(self, partition: str) -> None:
        super().__init__(iam_client=None)
        self._partition = partition

    def load(self) -> dict[str, str]:
        """A mapping whose ``get(name)`` is the AWS managed policy ARN of that name."""
        return _PolicyArnsByName(self._partition)


class _PolicyArnsByName(dict[str, str]):
    """``get(name)`` -> ``arn:<partition>:iam::aws:policy/<name>`` for any name."""

    def __init__(self, partition: str) -> None:
        super().__init__()
        self._partition = partition

    def get(self, name: str, default: Any = None) -> str:
        return f"arn:{self._partition}:iam::aws:policy/{name}"


def is_local_path(value: Any) -> bool:
    """True for a relative or absolute file path (not an S3/HTTP URL nor a property map)."""
    return isinstance(value, str) and not value.startswith(("s3://", "https://", "http://"))


def package_template(
    path: Path,
    *,
    artifact_bucket: str,
    artifact_prefix: str,
    parameters: Mapping[str, str],
    region: str,
    account_id: str,
    code_root: Path | None = None,
    stack_label: str = "",
    for_emulation: bool = True,
) -> PackagedTemplate:
    """Package and translate the template at ``path`` (and its local nested applications),
    then adapt it to the emulation (see `stp.local.cfn_adapt`) unless ``for_emulation`` is
    false: then every resource stays, as CloudFormation on AWS would get it (the security
    checks read that form).

    ``code_root``, when given, is where every function's code is taken from instead of its
    ``CodeUri``. Child templates are keyed ``<artifact_prefix>/<LogicalId>/...`` in the bucket;
    warnings name resources ``<stack_label>/<LogicalId>``.
    """
    sam = load_template(path)
    base = path.parent
    artifacts: list[Artifact] = []
    children: dict[str, PackagedTemplate] = {}
    resources: dict[str, Any] = sam.get("Resources", {})
    function_globals: dict[str, Any] = sam.get("Globals", {}).get("Function", {})
    global_code_uri = function_globals.get("CodeUri")
    if is_local_path(global_code_uri):
        # Each function gets its own S3 CodeUri below; a string left in Globals would win the
        # merge for functions that inherit it.
        del function_globals["CodeUri"]

    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        properties: dict[str, Any] = resource.setdefault("Properties", {})
        if kind == "AWS::Serverless::Function":
            code_uri = properties.get("CodeUri", global_code_uri)
            if "InlineCode" in properties or not is_local_path(code_uri):
                continue
            source = (code_root or base / str(code_uri)).resolve()
            if not source.is_dir():
                raise FileNotFoundError(f"{path}: {logical_id} CodeUri {source} is not a folder")
            body = _code_pointer_zip(source)
            key = f"{artifact_prefix}/{logical_id}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
            artifacts.append(Artifact(key, body))
            properties["CodeUri"] = {"Bucket": artifact_bucket, "Key": key}
        elif kind == "AWS::Serverless::LayerVersion":
            content_uri = properties.get("ContentUri")
            if not is_local_path(content_uri):
                continue
            source = (base / str(content_uri)).resolve()
            if not source.is_dir():
                raise FileNotFoundError(f"{path}: {logical_id} ContentUri {source} is not a folder")
            body = _code_pointer_zip(source)
            key = f"{artifact_prefix}/{logical_id}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
            artifacts.append(Artifact(key, body))
            properties["ContentUri"] = {"Bucket": artifact_bucket, "Key": key}
        elif kind == "AWS::Serverless::StateMachine":
            definition_uri = properties.get("DefinitionUri")
            if is_local_path(definition_uri):
                properties["Definition"] = _load_definition(base / str(definition_uri))
                del properties["DefinitionUri"]
        elif kind == "AWS::Serverless::Application":
            location = properties.get("Location")
            if not is_local_path(location):
                continue
            child_prefix = f"{artifact_prefix}/{logical_id}"
            child = package_template(
                (base / str(location)).resolve(),
                artifact_bucket=artifact_bucket,
                artifact_prefix=child_prefix,
                # A child's parameters come from the parent's resource, resolved by
                # CloudFormation at create time; the translator only needs the defaults.
                parameters={},
                region=region,
                account_id=account_id,
                code_root=code_root,
                stack_label=f"{stack_label}/{logical_id}" if stack_label else logical_id,
                for_emulation=for_emulation,
            )
            children[logical_id] = child
            artifacts.extend(child.artifacts)
            template_key = f"{child_prefix}/template.json"
            artifacts.append(Artifact(template_key, json.dumps(child.template).encode()))
            properties["Location"] = f"https://s3.amazonaws.com/{artifact_bucket}/{template_key}"

    template = _translate(sam, parameters, region) if _uses_sam(sam) else sam
    if not for_emulation:
        return PackagedTemplate(template, artifacts, children, [])
    inline_definition_substitutions(template)
    warnings = skip_unsupported(template, stack_label or path.name)
    for child in children.values():
        warnings.extend(child.warnings)
    return PackagedTemplate(template, artifacts, children, warnings)


def source_folder(code_zip: bytes) -> Path | None:
    """The source folder recorded in a zip made by `package_template`, else None."""
    try:
        with zipfile.ZipFile(io.BytesIO(code_zip)) as archive:
            manifest = json.loads(archive.read(SOURCE_MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError):
        return None
    return Path(manifest["source"])


def _code_pointer_zip(source: Path) -> bytes:
    """A tiny zip recording ``source``; zipping the real tree would only cost time, since the
    local Invoke server imports the handler from the source folder (third-party packages
    come from the running interpreter, as `sam build` artifacts would not exist here)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # A fixed timestamp keeps the zip, hence its key, identical for identical input.
        member = zipfile.ZipInfo(SOURCE_MANIFEST, date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(member, json.dumps({"source": str(source)}))
    return buffer.getvalue()


def _load_definition(path: Path) -> Any:
    """An ASL definition file (JSON or YAML) as data."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return load_template(path)


def _uses_sam(template: Mapping[str, Any]) -> bool:
    transforms = template.get("Transform", [])
    return SAM_TRANSFORM in ([transforms] if isinstance(transforms, str) else transforms)


def _translate(sam: dict[str, Any], parameters: Mapping[str, str], region: str) -> dict[str, Any]:
    """samtranslator's output for ``sam`` (a copy: the translator edits its input)."""
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    translated: dict[str, Any] = transform(
        copy.deepcopy(sam), dict(parameters), _OfflinePolicyLoader(partition)
    )
    # The translator records metrics for a publisher that discards them; publishing here
    # spares the "unpublished metrics" warning its destructor would log.
    MetricsMethodWrapperSingleton.get_instance().publish()
    return translated
