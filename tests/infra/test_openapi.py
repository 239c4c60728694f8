"""The API's contract: ``openapi.json`` is what the code generates, and ``stacks/api.yaml``
serves exactly its routes — API key on all but /health, CORS preflights, cached reads,
errors of API Gateway itself in the function's JSON shape."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from stp.cfn_yaml import load_template
from trading.service.access import route_scope

ROOT = Path(__file__).resolve().parents[2]
CACHED_READS = {"/quotes/{symbol}", "/reports/{run_id}"}
PUBLIC_ROUTES = {("/health", "get")}  # handlers.api_contract.PUBLIC_ROUTES


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text())
    return document


@pytest.fixture(scope="module")
def api() -> dict[str, Any]:
    resources: dict[str, Any] = load_template(ROOT / "stacks" / "api.yaml")["Resources"]
    return resources


def resource_paths(api: dict[str, Any]) -> dict[str, str]:
    """The path of every AWS::ApiGateway::Resource, from its PathPart chain."""
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            properties = api[logical_id]["Properties"]
            parent = properties["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{properties['PathPart']}"
        return paths[logical_id]

    for logical_id, resource in api.items():
        if resource["Type"] == "AWS::ApiGateway::Resource":
            path_of(logical_id)
    return paths


def methods(api: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    paths = resource_paths(api)
    found = {}
    for resource in api.values():
        if resource["Type"] == "AWS::ApiGateway::Method":
            properties = resource["Properties"]
            path = paths[properties["ResourceId"]["Ref"]]
            found[(path, properties["HttpMethod"].lower())] = properties
    return found


def test_openapi_json_is_what_the_code_generates() -> None:
    # A fresh interpreter: the handler module reads its environment when imported.
    done = subprocess.run(
        [sys.executable, "-m", "scripts.make_openapi", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_operation_documents_its_errors_in_one_shape(contract: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(contract["components"]["schemas"]["ErrorResponse"]["required"]) == {
        "code",
        "message",
        "details",
    }
    assert contract["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    for path, operations in contract["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == error
            assert "422" not in operation["responses"] or (path, method) == ("/orders", "post")
            if (path, method) not in PUBLIC_ROUTES:
                assert {"403", "429"} <= set(operation["responses"]), (path, method)


def test_api_gateway_serves_exactly_the_documented_routes(
    contract: dict[str, Any], api: dict[str, Any]
) -> None:
    served = methods(api)
    documented = {(path, method) for path, ops in contract["paths"].items() for method in ops}
    assert {route for route in served if route[1] not in {"options", "any"}} == documented
    for (path, method), properties in served.items():
        integration = properties["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert "${ApiFunctionArn}" in integration["Uri"]["Fn::Sub"]
        public = method == "options" or (path, "get" if method == "any" else method) in (
            PUBLIC_ROUTES
        )
        assert properties["ApiKeyRequired"] is (not public), (path, method)
        for name in (part[1:-1] for part in path.split("/") if part.startswith("{")):
            if method not in {"options", "any"}:
                assert properties["RequestParameters"][f"method.request.path.{name}"] is True
    # Every documented path answers its CORS preflight, and any other method reaches the
    # function, which answers 405 METHOD_NOT_ALLOWED with the path's methods in Allow.
    for extra in ("options", "any"):
        assert {path for path, _ in documented} == {
            path for path, method in served if method == extra
        }


def test_post_bodies_are_validated_by_api_gateway_too(api: dict[str, Any]) -> None:
    for (path, method), properties in methods(api).items():
        if method == "post":
            assert properties["RequestValidatorId"] == {"Ref": "BodyValidator"}, path
            assert "application/json" in properties["RequestModels"], path


def test_the_read_endpoints_of_quotes_and_reports_are_cached(api: dict[str, Any]) -> None:
    settings = api["ApiStage"]["Properties"]["MethodSettings"]
    cached = {
        setting["ResourcePath"][1:].replace("~1", "/"): setting
        for setting in settings
        if setting.get("CachingEnabled") not in (False, None)
    }
    assert set(cached) == CACHED_READS
    for path, setting in cached.items():
        assert setting["HttpMethod"] == "GET"
        assert setting["CacheTtlInSeconds"]["Ref"].endswith("CacheTtlSeconds")
        name = path.rsplit("{", 1)[1].rstrip("}")
        integration = methods(api)[(path, "get")]["Integration"]
        # The caller is in the key: one caller's cached answer never reaches another.
        assert integration["CacheKeyParameters"] == [
            f"method.request.path.{name}",
            "method.request.header.Authorization",
            "method.request.header.X-Account-Id",
        ]
    for setting in settings:  # every route is throttled by the stage
        assert setting["ThrottlingRateLimit"] == {"Ref": "StageThrottleRateLimit"}


def test_api_gateway_answers_its_own_errors_in_the_function_s_shape(
    api: dict[str, Any],
) -> None:
    responses = {
        resource["Properties"]["ResponseType"]: resource["Properties"]
        for resource in api.values()
        if resource["Type"] == "AWS::ApiGateway::GatewayResponse"
    }
    assert responses["INVALID_API_KEY"]["StatusCode"] == "403"
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "QUOTA_EXCEEDED"} <= set(responses)
    # API Gateway's own list of response types (a misspelt one fails only at deploy time).
    model = botocore.session.get_session().get_service_model("apigateway")
    assert set(responses) <= set(model.shape_for("GatewayResponseType").enum)
    for properties in responses.values():
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        assert set(body) == {"code", "message", "details"}


def deployment_id(api: dict[str, Any]) -> str:
    """The logical id the API's deployment must have: it names the routes it snapshots.

    CloudFormation creates a new ``AWS::ApiGateway::Deployment`` only for a new logical id, so
    a stack updated with changed routes would go on serving the old ones; a digest of the
    routes and gateway responses in the id makes every change of them a new deployment.
    """
    snapshot = sorted(
        json.dumps(resource, sort_keys=True, default=str)
        for resource in api.values()
        if resource["Type"] in {"AWS::ApiGateway::Method", "AWS::ApiGateway::GatewayResponse"}
    )
    digest = hashlib.sha256("\n".join(snapshot).encode()).hexdigest()[:8].upper()
    return f"ApiDeployment{digest}"


def test_the_deployment_waits_for_every_route_and_gateway_response(api: dict[str, Any]) -> None:
    needed = {
        logical_id
        for logical_id, resource in api.items()
        if resource["Type"] in {"AWS::ApiGateway::Method", "AWS::ApiGateway::GatewayResponse"}
    }
    deployments = [
        key for key, value in api.items() if value["Type"] == "AWS::ApiGateway::Deployment"
    ]
    # Rename the deployment (and the stage's DeploymentId) to this when the routes change.
    assert deployments == [deployment_id(api)]
    assert set(api[deployments[0]]["DependsOn"]) == needed


def test_every_keyed_route_needs_a_cognito_token_with_the_route_s_scope(
    api: dict[str, Any],
) -> None:
    authorizers = [k for k, r in api.items() if r["Type"] == "AWS::ApiGateway::Authorizer"]
    assert authorizers == ["CognitoAuthorizer"]
    assert api["CognitoAuthorizer"]["Properties"]["Type"] == "COGNITO_USER_POOLS"
    for (path, method), properties in methods(api).items():
        public = (path, "get" if method == "any" else method) in PUBLIC_ROUTES
        if method == "options" or public:
            assert properties["AuthorizationType"] == "NONE", (path, method)
            continue
        assert properties["AuthorizationType"] == "COGNITO_USER_POOLS", (path, method)
        assert properties["AuthorizerId"] == {"Ref": "CognitoAuthorizer"}
        scopes = properties["AuthorizationScopes"]
        if method == "any":  # a 405 for any caller the route's other methods would take
            assert route_scope(path, "GET") in scopes, path
        else:
            assert scopes == [route_scope(path, method)], (path, method)
