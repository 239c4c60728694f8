"""The user pool's OAuth 2.0 token endpoint (``POST /oauth2/token``) as Cognito serves it on
the pool's domain, for the client-credentials grant: what a script or bot calls to get an
access token locally, exactly as on AWS (``curl -u id:secret -d grant_type=client_credentials
-d scope=... $TOKEN_URL``).

The request is checked as Cognito checks it: a form body (``application/x-www-form-urlencoded``),
the client authenticated once, by HTTP Basic (``client_secret_basic``) or by ``client_id`` and
``client_secret`` fields (``client_secret_post``), ``grant_type=client_credentials`` allowed to
the client, each requested scope one of the client's (none requested: all of them). A refusal
is 400 with ``{"error": ...}`` (``invalid_request``, ``invalid_client``, ``unauthorized_client``,
``unsupported_grant_type``, ``invalid_scope``), Cognito's negative responses; an answer is
``{"access_token", "expires_in", "token_type": "Bearer"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from stp.local.api_gateway import HttpRequest, HttpResponse
from stp.local.user_pool import LocalUserPool, TokenRequestError

TOKEN_PATH = "/oauth2/token"
FORM_TYPE = "application/x-www-form-urlencoded"
GRANTS = ("authorization_code", "refresh_token", "client_credentials")
"""The grants Cognito's endpoint knows; only client credentials are served locally (people
get their token from `stp api`'s banner: the managed login has no local page)."""


@dataclass(frozen=True)
class TokenEndpoint:
    """``POST /oauth2/token`` of ``pool``."""

    pool: LocalUserPool

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The endpoint's answer to ``request`` (its path is :data:`TOKEN_PATH`)."""
        if request.method != "POST":
            return HttpResponse(405, (("Allow", "POST"), ("Content-Type", "application/json")), b"")
        try:
            client_id, secret, form = _client_and_form(request)
            grant = form.get("grant_type")
            if not grant:
                raise TokenRequestError("invalid_request", "grant_type is required")
            if grant not in GRANTS:
                raise TokenRequestError("unsupported_grant_type", f"unknown grant {grant!r}")
            if grant != "client_credentials":
                raise TokenRequestError(
                    "unsupported_grant_type", f"{grant} is not served by the local pool"
                )
            scope = form.get("scope")
            scopes = scope.split() if scope is not None else None
            token = self.pool.client_credentials_token(client_id, secret, scopes)
        except TokenRequestError as error:
            body = {"error": error.error, "error_description": error.description}
            return _json(400, body)
        client = self.pool.client(client_id)
        lifetime = client.token_minutes * 60 if client is not None else 3600
        return _json(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})


def _client_and_form(request: HttpRequest) -> tuple[str, str, dict[str, str]]:
    """The client's id and secret (from exactly one of the two methods) and the form."""
    headers = {name.lower(): value for name, value in request.headers}
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM_TYPE:
        raise TokenRequestError("invalid_request", f"Content-Type must be {FORM_TYPE}")
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), strict_parsing=bool(request.body))
    except (UnicodeDecodeError, ValueError):
        raise TokenRequestError("invalid_request", "the body is not a form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise TokenRequestError("invalid_request", f"{name} is repeated")
        form[name] = value
    basic = _basic(headers.get("authorization"))
    posted = "client_secret" in form
    if basic is not None and posted:
        raise TokenRequestError("invalid_request", "authenticate the client one way only")
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id", client_id) != client_id:
            raise TokenRequestError("invalid_request", "client_id differs from the Basic one")
        return client_id, secret, form
    if posted:
        return form.get("client_id", ""), form["client_secret"], form
    raise TokenRequestError("invalid_client", "no client authentication")


def _basic(header: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` of an ``Authorization: Basic`` header; None without."""
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise TokenRequestError("invalid_client", "the Authorization header must be Basic")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenRequestError("invalid_client", "malformed Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise TokenRequestError("invalid_client", "malformed Basic credentials")
    # RFC 6749 2.3.1: both are form-encoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _json(status: int, body: Mapping[str, object]) -> HttpResponse:
    headers = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
    return HttpResponse(status, headers, json.dumps(body).encode())
