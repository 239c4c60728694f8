"""What the local API gateway needs from the templates that the emulation does not keep.

moto creates the REST API, its resources and methods (the routes are read back from it), but
not the usage plan, the gateway responses, the Cognito authorizer, the methods' OAuth scopes
or the user pool. Their settings are read here from the source templates, with parameters at
the values a default deploy gives them, so the throttle, the error bodies and the token
checks of the local gateway are the deployed stage's, not a second hand-kept copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stp.cfn_yaml import load_template

REST_API = "AWS::ApiGateway::RestApi"
STAGE = "AWS::ApiGateway::Stage"
USAGE_PLAN = "AWS::ApiGateway::UsagePlan"
GATEWAY_RESPONSE = "AWS::ApiGateway::GatewayResponse"
METHOD = "AWS::ApiGateway::Method"
RESOURCE = "AWS::ApiGateway::Resource"
AUTHORIZER = "AWS::ApiGateway::Authorizer"
USER_POOL = "AWS::Cognito::UserPool"
RESOURCE_SERVER = "AWS::Cognito::UserPoolResourceServer"
USER_POOL_CLIENT = "AWS::Cognito::UserPoolClient"
COGNITO_USER_POOLS = "COGNITO_USER_POOLS"
_NESTED = ("AWS::Serverless::Application", "AWS::CloudFormation::Stack")


@dataclass(frozen=True)
class GatewayResponse:
    """A customised gateway response: status, JSON body template and extra headers."""

    status: int | None
    template: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppClient:
    """A user pool app client of the template: its OAuth flows and scopes, whether it has a
    secret, and its access tokens' lifetime."""

    logical_id: str
    name: str
    flows: tuple[str, ...]
    scopes: tuple[str, ...]
    secret: bool
    token_minutes: int = 60


@dataclass(frozen=True)
class UserPoolConfig:
    """The user pool behind the API's Cognito authorizer: name, resource server, clients."""

    name: str
    resource_server: str
    scopes: tuple[str, ...]
    clients: tuple[AppClient, ...]


@dataclass(frozen=True)
class GatewayConfig:
    """Stage name, throttle of the usage plan (None: no plan), customised gateway responses,
    the user pool of the Cognito authorizer (None: no authorizer) and each method's
    authorization: (path, HTTP method) -> OAuth scopes (any one of them suffices)."""

    stage: str = "local"
    rate_limit: float | None = None
    burst_limit: int | None = None
    responses: dict[str, GatewayResponse] = field(default_factory=dict)
    user_pool: UserPoolConfig | None = None
    method_scopes: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


def gateway_config(
    root_template: Path, overrides: Mapping[str, str] | None = None
) -> GatewayConfig:
    """The config of the (first) REST API defined in ``root_template`` or a stack it nests.

    ``overrides`` are root parameter values given at deploy time; the rest take defaults.
    """
    root = load_template(root_template)
    root_values = _parameter_values(root, overrides or {})
    found = _find_api_template(root, root_template.parent, root_values)
    if found is None:
        return GatewayConfig()
    template, values = found
    resources = template.get("Resources", {})
    rate: float | None = None
    burst: int | None = None
    responses: dict[str, GatewayResponse] = {}
    stage = "local"
    for resource in resources.values():
        kind = resource.get("Type")
        properties = resource.get("Properties", {})
        if kind == STAGE:
            stage = str(_resolve(properties.get("StageName"), values) or stage)
        elif kind == USAGE_PLAN:
            throttle = properties.get("Throttle", {})
            rate_value = _resolve(throttle.get("RateLimit"), values)
            burst_value = _resolve(throttle.get("BurstLimit"), values)
            rate = float(rate_value) if rate_value is not None else None
            burst = int(float(burst_value)) if burst_value is not None else None
        elif kind == GATEWAY_RESPONSE:
            status = _resolve(properties.get("StatusCode"), values)
            templates = properties.get("ResponseTemplates", {})
            body = _resolve(templates.get("application/json"), values)
            headers = {}
            for name, value in properties.get("ResponseParameters", {}).items():
                resolved = _resolve(value, values)
                if name.startswith("gatewayresponse.header.") and isinstance(resolved, str):
                    headers[name.removeprefix("gatewayresponse.header.")] = resolved.strip("'")
            responses[str(properties.get("ResponseType"))] = GatewayResponse(
                status=int(status) if status is not None else None,
                template=body if isinstance(body, str) else None,
                headers=headers,
            )
    return GatewayConfig(
        stage=stage,
        rate_limit=rate,
        burst_limit=burst,
        responses=responses,
        user_pool=_user_pool(resources, values),
        method_scopes=_method_scopes(resources),
    )


def _method_scopes(resources: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(path, method) -> scopes of every method behind the Cognito authorizer."""
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            properties = resources[logical_id]["Properties"]
            parent = properties["ParentId"]
            prefix = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{properties['PathPart']}"
        return paths[logical_id]

    scopes: dict[tuple[str, str], tuple[str, ...]] = {}
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource.get("Type") != METHOD:
            continue
        if properties.get("AuthorizationType") != COGNITO_USER_POOLS:
            continue
        target = properties.get("ResourceId")
        if not isinstance(target, dict) or "Ref" not in target:
            continue
        key = (path_of(target["Ref"]), str(properties.get("HttpMethod", "")).upper())
        scopes[key] = tuple(str(scope) for scope in properties.get("AuthorizationScopes", []))
    return scopes


def _user_pool(resources: Mapping[str, Any], values: Mapping[str, Any]) -> UserPoolConfig | None:
    """The user pool a COGNITO_USER_POOLS authorizer of the template trusts, or None."""
    authorizers = [
        r
        for r in resources.values()
        if r.get("Type") == AUTHORIZER and r.get("Properties", {}).get("Type") == COGNITO_USER_POOLS
    ]
    pools = {k: r for k, r in resources.items() if r.get("Type") == USER_POOL}
    if not authorizers or not pools:
        return None
    pool_id = next(iter(pools))
    server: Mapping[str, Any] = next(
        (r["Properties"] for r in resources.values() if r.get("Type") == RESOURCE_SERVER), {}
    )
    identifier = str(server.get("Identifier", ""))
    scopes = tuple(f"{identifier}/{s['ScopeName']}" for s in server.get("Scopes", []))
    clients = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != USER_POOL_CLIENT:
            continue
        properties = resource.get("Properties", {})
        minutes = _resolve(properties.get("AccessTokenValidity"), values)
        clients.append(
            AppClient(
                logical_id=logical_id,
                name=logical_id,
                flows=tuple(str(flow) for flow in properties.get("AllowedOAuthFlows", [])),
                scopes=tuple(str(scope) for scope in properties.get("AllowedOAuthScopes", [])),
                secret=bool(properties.get("GenerateSecret")),
                token_minutes=int(float(minutes)) if minutes is not None else 60,
            )
        )
    return UserPoolConfig(
        name=pool_id, resource_server=identifier, scopes=scopes, clients=tuple(clients)
    )


def _find_api_template(
    template: Mapping[str, Any], folder: Path, values: Mapping[str, Any]
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The template holding a REST API and its parameter values, searching nested stacks."""
    resources = template.get("Resources", {})
    if any(resource.get("Type") == REST_API for resource in resources.values()):
        return template, values
    for resource in resources.values():
        if resource.get("Type") not in _NESTED:
            continue
        properties = resource.get("Properties", {})
        location = properties.get("Location", properties.get("TemplateURL"))
        if not isinstance(location, str) or "://" in location:
            continue
        child_path = folder / location
        child = load_template(child_path)
        passed = {
            name: _resolve(value, values)
            for name, value in properties.get("Parameters", {}).items()
        }
        child_values = _parameter_values(child, {k: v for k, v in passed.items() if v is not None})
        found = _find_api_template(child, child_path.parent, child_values)
        if found is not None:
            return found
    return None


def _parameter_values(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Each declared parameter's value: the given one, else its default."""
    values: dict[str, Any] = {}
    for name, declaration in template.get("Parameters", {}).items():
        if name in given:
            values[name] = given[name]
        elif "Default" in declaration:
            values[name] = declaration["Default"]
    return values


def _resolve(value: Any, values: Mapping[str, Any]) -> Any:
    """A literal, or a ``Ref`` to a parameter; None for what cannot be known before deploy."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            return values.get(value["Ref"])
        return None
    return value
