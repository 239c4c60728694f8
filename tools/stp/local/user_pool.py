"""The API's Cognito user pool in the emulation, and API Gateway's Cognito authorizer.

moto's CloudFormation does not create Cognito resources, so the pool, its resource server
(the OAuth scopes) and its app clients are created here through the Cognito API, from the
template's own definitions (:class:`~stp.local.gateway_config.UserPoolConfig`). moto signs its
tokens with the key it publishes as the pool's JWKS; tokens with custom scopes (what the
pool's ``/oauth2/token`` endpoint issues for client credentials or a code exchange, which
moto lacks) are signed here with that same key.

:class:`CognitoAuthorizer` checks a token as API Gateway's COGNITO_USER_POOLS authorizer
does: an RS256 signature by a key of the pool's JWKS, not expired, issued by this pool, an
access token of one of its app clients, carrying one of the method's scopes. Anything else
is refused; nothing unverified reaches the function.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from stp.local.aws_clients import internal_client
from stp.local.gateway_config import UserPoolConfig

JWKS_RESOURCE = "cognitoidp/resources/jwks-public.json"
"""The keys moto publishes at ``<issuer>/.well-known/jwks.json`` for every pool."""
JWKS_PRIVATE_RESOURCE = "cognitoidp/resources/jwks-private.json"
CLOCK_SKEW_SECONDS = 0


class TokenRejectedError(Exception):
    """The authorizer refuses the token; the message says why (for the local log only)."""


class TokenRequestError(Exception):
    """The pool's token endpoint refuses a request: ``error`` is the OAuth 2.0 error code
    Cognito answers (``invalid_client``, ``unauthorized_client``, ``invalid_scope``...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class ClientCredentials:
    """An app client as created: id, secret (None without one), flows and scopes."""

    logical_id: str
    client_id: str
    secret: str | None
    flows: tuple[str, ...]
    scopes: tuple[str, ...]
    token_minutes: int


@dataclass
class LocalUserPool:
    """A user pool created in the emulation from the template's definition."""

    pool_id: str
    region: str
    account_id: str
    config: UserPoolConfig
    clients: dict[str, ClientCredentials] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        """The ``iss`` of the pool's tokens."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @classmethod
    def create(cls, config: UserPoolConfig, region: str, account_id: str) -> LocalUserPool:
        """Create the pool, its resource server and app clients through the Cognito API."""
        cognito = internal_client("cognito-idp", region)
        pool_id = cognito.create_user_pool(PoolName=config.name)["UserPool"]["Id"]
        if config.resource_server:
            cognito.create_resource_server(
                UserPoolId=pool_id,
                Identifier=config.resource_server,
                Name=config.resource_server,
                Scopes=[
                    {"ScopeName": scope.split("/", 1)[1], "ScopeDescription": scope}
                    for scope in config.scopes
                ],
            )
        pool = cls(pool_id, region, account_id, config)
        for client in config.clients:
            created = cognito.create_user_pool_client(
                UserPoolId=pool_id,
                ClientName=client.name,
                GenerateSecret=client.secret,
                AllowedOAuthFlowsUserPoolClient=bool(client.flows),
                AllowedOAuthFlows=list(client.flows),
                AllowedOAuthScopes=list(client.scopes),
                ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            )["UserPoolClient"]
            pool.clients[client.logical_id] = ClientCredentials(
                logical_id=client.logical_id,
                client_id=created["ClientId"],
                secret=created.get("ClientSecret"),
                flows=client.flows,
                scopes=client.scopes,
                token_minutes=client.token_minutes,
            )
        return pool

    def client_for(self, flow: str, scope: str) -> ClientCredentials:
        """The first app client allowed ``flow`` and ``scope`` (``LookupError`` if none)."""
        for client in self.clients.values():
            if flow in client.flows and scope in client.scopes:
                return client
        raise LookupError(f"no app client of the pool may use {flow} with {scope}")

    def create_user(self, username: str, password: str) -> str:
        """An admin-created, confirmed user; returns its ``sub``."""
        cognito = internal_client("cognito-idp", self.region)
        try:
            attributes = cognito.admin_create_user(
                UserPoolId=self.pool_id, Username=username, MessageAction="SUPPRESS"
            )["User"]["Attributes"]
        except cognito.exceptions.UsernameExistsException:  # a restored state has it
            attributes = cognito.admin_get_user(UserPoolId=self.pool_id, Username=username)[
                "UserAttributes"
            ]
        cognito.admin_set_user_password(
            UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
        )
        return str(next(a["Value"] for a in attributes if a["Name"] == "sub"))

    def user_token(
        self, username: str, password: str, scopes: Iterable[str], expires_in: int | None = None
    ) -> str:
        """An access token of ``username`` with ``scopes``, as the managed login's code
        exchange issues it (the password is checked by the pool's own sign-in first)."""
        client = self.client_for("code", next(iter(scopes)))
        cognito = internal_client("cognito-idp", self.region)
        signed_in = cognito.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=client.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )["AuthenticationResult"]
        # moto's sign-in token carries aws.cognito.signin.user.admin only; keep its subject.
        claims = jwt.decode(signed_in["AccessToken"], self._keys()).claims
        return self.sign(
            client,
            subject=str(claims["sub"]),
            username=username,
            scopes=scopes,
            expires_in=expires_in,
        )

    def client_credentials_token(
        self,
        client_id: str,
        secret: str,
        scopes: Iterable[str] | None = None,
        expires_in: int | None = None,
    ) -> str:
        """What ``POST /oauth2/token`` with ``grant_type=client_credentials`` answers: the
        client's secret checked (else ``invalid_client``), the flow allowed to the client
        (else ``unauthorized_client``), every scope one the client is allowed (else
        ``invalid_scope``); no scope asked: all of the client's, as Cognito does."""
        client = self.client(client_id)
        if (
            client is None
            or client.secret is None
            or not secrets.compare_digest(client.secret.encode(), secret.encode())
        ):
            raise TokenRequestError("invalid_client", "unknown client or wrong client secret")
        if "client_credentials" not in client.flows:
            raise TokenRequestError(
                "unauthorized_client", "this client may not use the client_credentials grant"
            )
        wanted = client.scopes if scopes is None else tuple(scopes)
        unknown = sorted(set(wanted) - set(client.scopes))
        if unknown or not wanted:
            raise TokenRequestError(
                "invalid_scope", f"scope(s) not allowed to this client: {' '.join(unknown)}"
            )
        return self.sign(
            client, subject=client.client_id, username=None, scopes=wanted, expires_in=expires_in
        )

    def client(self, client_id: str) -> ClientCredentials | None:
        """The app client of id ``client_id``, or None."""
        return next((c for c in self.clients.values() if c.client_id == client_id), None)

    def sign(
        self,
        client: ClientCredentials,
        *,
        subject: str,
        username: str | None,
        scopes: Iterable[str],
        expires_in: int | None = None,
        issued_at: int | None = None,
    ) -> str:
        """An access token of this pool, signed with the key moto signs the pool's with."""
        now = int(time.time()) if issued_at is None else issued_at
        lifetime = client.token_minutes * 60 if expires_in is None else expires_in
        payload: dict[str, Any] = {
            "sub": subject,
            "iss": self.issuer,
            "client_id": client.client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        if username is not None:
            payload["username"] = username
        return jwt.encode({"kid": "dummy", "alg": "RS256"}, payload, self._private_key())

    def authorizer(self) -> CognitoAuthorizer:
        """API Gateway's authorizer for this pool."""
        return CognitoAuthorizer(
            issuer=self.issuer,
            client_ids=frozenset(c.client_id for c in self.clients.values()),
            keys=self._keys(),
        )

    @staticmethod
    def _private_key() -> Any:
        # moto signs every pool's tokens with this key (its published JWKS is its public half).
        from joserfc.jwk import RSAKey
        from moto.utilities.utils import load_resource

        return RSAKey.import_key(load_resource(JWKS_PRIVATE_RESOURCE))

    @staticmethod
    def _keys() -> KeySet:
        from moto.utilities.utils import load_resource

        return KeySet.import_key_set(load_resource(JWKS_RESOURCE))


@dataclass(frozen=True)
class CognitoAuthorizer:
    """A COGNITO_USER_POOLS authorizer: ``check`` returns the claims API Gateway hands the
    function (every value a string) or raises :class:`TokenRejectedError`."""

    issuer: str
    client_ids: frozenset[str]
    keys: KeySet

    def check(
        self, header: str | None, scopes: Iterable[str], now: float | None = None
    ) -> dict[str, str]:
        """Verify the ``Authorization`` header's token for a method needing one of ``scopes``
        (none: an ID token would do on AWS; this API always sets scopes)."""
        if not header:
            raise TokenRejectedError("no Authorization header")
        token = header.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        try:
            decoded = jwt.decode(token, self.keys, algorithms=["RS256"])
        except (JoseError, ValueError) as error:
            raise TokenRejectedError(f"bad signature or token: {error}") from None
        claims: Mapping[str, Any] = decoded.claims
        moment = time.time() if now is None else now
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires + CLOCK_SKEW_SECONDS <= moment:
            raise TokenRejectedError("expired")
        if claims.get("iss") != self.issuer:
            raise TokenRejectedError("issued by another pool")
        if claims.get("token_use") != "access":
            raise TokenRejectedError("not an access token")
        if claims.get("client_id") not in self.client_ids:
            raise TokenRejectedError("for an app client of another pool (wrong audience)")
        wanted = set(scopes)
        held = set(str(claims.get("scope", "")).split())
        if wanted and not wanted & held:
            raise TokenRejectedError(f"none of the scopes {sorted(wanted)}")
        return {name: str(value) for name, value in claims.items()}
