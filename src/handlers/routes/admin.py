"""The API's admin routes (scope ``trading/admin``), apart from trading ones: register an
account, grant a principal, read an account, and its kill switch. A Powertools ``Router``
included by ``handlers.api``.

    POST   /admin/accounts                            201 the new account (409 when taken)
    GET    /admin/accounts/{account_id}               200 the account
    POST   /admin/accounts/{account_id}/grants        201 the grant
    PUT    /admin/accounts/{account_id}/kill-switch   200 the account, halted or not
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from handlers import api_models as models
from handlers.api_caller import BAD, CONFLICT, DENIED, MISSING, AdminCaller, openapi_responses
from handlers.observability import logger
from trading.bootstrap import get_api_platform
from trading.service import admin

router = Router()  # type: ignore[no-untyped-call]

AccountId = Annotated[str, Path(pattern=models.ACCOUNT_ID_PATTERN)]


@router.post(
    "/admin/accounts",
    tags=["admin"],
    summary="Create an account",
    responses=openapi_responses(models.AccountView, HTTPStatus.CREATED, BAD, CONFLICT, *DENIED),
)
def create_account(_: AdminCaller, body: models.CreateAccount) -> Response[Any]:
    """Register an account with its owner (granted it at once) and its settings."""
    settings = body.settings.model_dump() if body.settings is not None else None
    profile = admin.create_account(
        body.account_id,
        owner=body.owner,
        settings=settings,
        registry=get_api_platform().registry,
    )
    logger.info("account created", extra={"account": profile.account_id})
    return Response(
        status_code=HTTPStatus.CREATED.value,
        content_type=content_types.APPLICATION_JSON,
        body=profile.to_dict(),
    )


@router.get(
    "/admin/accounts/<account_id>",
    tags=["admin"],
    summary="Read an account",
    responses=openapi_responses(models.AccountView, HTTPStatus.OK, BAD, MISSING, *DENIED),
)
def get_account(_: AdminCaller, account_id: AccountId) -> models.AccountView:
    """Any registered account, with its owner, settings and kill switch."""
    profile = admin.account_profile(account_id, registry=get_api_platform().registry)
    return models.AccountView.model_validate(profile.to_dict())


@router.post(
    "/admin/accounts/<account_id>/grants",
    tags=["admin"],
    summary="Grant a user or client an account",
    responses=openapi_responses(models.GrantView, HTTPStatus.CREATED, BAD, MISSING, *DENIED),
)
def grant(_: AdminCaller, account_id: AccountId, body: models.Grant) -> Response[Any]:
    """Let a principal (a user's ``sub`` or a machine client's id) use the account."""
    granted = admin.grant_account(account_id, body.principal, registry=get_api_platform().registry)
    logger.info("account granted", extra=granted)
    return Response(
        status_code=HTTPStatus.CREATED.value,
        content_type=content_types.APPLICATION_JSON,
        body=granted,
    )


@router.put(
    "/admin/accounts/<account_id>/kill-switch",
    tags=["admin"],
    summary="Halt or resume trading in an account",
    responses=openapi_responses(models.AccountView, HTTPStatus.OK, BAD, MISSING, *DENIED),
)
def kill_switch(
    admin_caller: AdminCaller, account_id: AccountId, body: models.KillSwitch
) -> models.AccountView:
    """``halted: true`` refuses the account's new orders, amendments and live runs (422 / 409
    ``TRADING_HALTED``); cancels still pass, so a trader can reduce risk."""
    profile = admin.set_kill_switch(account_id, body.halted, registry=get_api_platform().registry)
    logger.warning(
        "kill switch",
        extra={"account": account_id, "halted": body.halted, "by": admin_caller.name},
    )
    return models.AccountView.model_validate(profile.to_dict())
