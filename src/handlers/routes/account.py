"""The caller's account: its profile, positions and portfolio."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers import api_models as models
from handlers.api_caller import (
    BAD,
    MISSING,
    CallerAccount,
    Limit,
    NextToken,
    route_responses,
)
from trading.bootstrap import get_platform
from trading.service import portfolio
from trading.service.pages import DEFAULT_PAGE_SIZE

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/account",
    tags=["account"],
    summary="The caller's account",
    responses=route_responses(models.AccountView, HTTPStatus.OK, BAD, MISSING),
)
def get_account(account: CallerAccount) -> models.AccountView:
    """The account this request acts on: id, owner, settings and kill switch."""
    return models.AccountView.model_validate(account.to_dict())


@router.get(
    "/positions",
    tags=["account"],
    summary="Open positions",
    responses=route_responses(models.PositionPage, HTTPStatus.OK, BAD),
)
def list_positions(
    profile: CallerAccount, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> models.PositionPage:
    """The account's open positions by symbol, marked at the last price it saw; paginated."""
    account = get_platform().accounts.get(profile.account_id, consistent=False)
    page = portfolio.positions_page(
        account, limit=limit, next_token=next_token, config=profile.run_config()
    )
    return models.PositionPage.model_validate(
        {"positions": page.items, "next_token": page.next_token}
    )


@router.get("/portfolio", tags=["account"], summary="Cash, equity, exposure and P&L")
def get_portfolio(profile: CallerAccount) -> models.Portfolio:
    """Cash, equity, exposure, realised and unrealised P&L of the account (one read)."""
    account = get_platform().accounts.get(profile.account_id, orders=(), consistent=False)
    view = portfolio.portfolio_view(account, profile.run_config())
    return models.Portfolio.model_validate(view)
