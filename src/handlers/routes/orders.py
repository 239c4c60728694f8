"""Orders of the caller's account: place, list, get, amend, cancel."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from handlers import api_models as models
from handlers.api_caller import (
    BAD,
    CONFLICT,
    MISSING,
    UNAVAILABLE,
    CallerAccount,
    Limit,
    NextToken,
    OrderId,
    json_response,
    route_responses,
)
from handlers.observability import logger
from trading.bootstrap import get_api_platform
from trading.service import orders
from trading.service.errors import InvalidRequestError
from trading.service.pages import DEFAULT_PAGE_SIZE

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/orders",
    tags=["orders"],
    summary="Place an order",
    responses={
        **route_responses(models.Order, HTTPStatus.CREATED, BAD, CONFLICT, UNAVAILABLE),
        **route_responses(models.Order, HTTPStatus.OK, HTTPStatus.UNPROCESSABLE_ENTITY),
    },
)
def post_order(account: CallerAccount, order: models.PlaceOrder) -> Response[models.Order]:
    """Place an order: risk-checked now against the symbol's latest bar, filled by the next
    run on the symbol's next bar. 201 when placed; 200 when the same ``client_order_id`` and
    body come again (the original order); 409 when the id was used with another body; 422
    ``ORDER_REJECTED`` when a risk check refuses it (``details.reason`` is the core's code)."""
    request = orders.OrderRequest(
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        order_type=order.type,
        limit_price=order.limit_price,
        time_in_force=order.time_in_force,
        client_order_id=order.client_order_id,
        stop_price=order.stop_price,
        stop_loss=order.stop_loss,
        take_profit=order.take_profit,
        stop_loss_pct=order.stop_loss_pct,
        take_profit_pct=order.take_profit_pct,
        trailing_pct=order.trailing_pct,
    )
    api = get_api_platform()
    placed = orders.place_order(
        request,
        account=account.account_id,
        accounts=api.platform.accounts,
        orders=api.orders,
        config=account.run_config(),
    )
    if placed.created:
        logger.info("order placed", extra={"order_id": placed.order["order_id"]})
    return json_response(HTTPStatus.CREATED if placed.created else HTTPStatus.OK, placed.order)


@router.get(
    "/orders",
    tags=["orders"],
    summary="List orders",
    responses=route_responses(models.OrderPage, HTTPStatus.OK, BAD, UNAVAILABLE),
)
def list_orders(
    account: CallerAccount,
    status: Annotated[models.OrderStatusName | None, Query()] = None,
    symbol: Annotated[str | None, Query(pattern=models.SYMBOL_PATTERN)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> models.OrderPage:
    """The account's orders, oldest first, filtered by status and/or symbol; paginated."""
    page = orders.list_orders(
        account=account.account_id,
        orders=get_api_platform().orders,
        status=status,
        symbol=symbol,
        limit=limit,
        next_token=next_token,
    )
    return models.OrderPage.model_validate({"orders": page.items, "next_token": page.next_token})


@router.get(
    "/orders/<order_id>",
    tags=["orders"],
    summary="Get an order",
    responses=route_responses(models.Order, HTTPStatus.OK, BAD, MISSING),
)
def get_order(account: CallerAccount, order_id: OrderId) -> models.Order:
    """One order of the account."""
    view = orders.get_order(order_id, account=account.account_id, orders=get_api_platform().orders)
    return models.Order.model_validate(view)


@router.delete(
    "/orders/<order_id>",
    tags=["orders"],
    summary="Cancel an order",
    responses=route_responses(models.Order, HTTPStatus.OK, BAD, MISSING, CONFLICT, UNAVAILABLE),
)
def cancel_order(account: CallerAccount, order_id: OrderId) -> models.Order:
    """Cancel an open order (idempotent); 409 ``ORDER_NOT_CANCELLABLE`` when it is filled or
    rejected."""
    api = get_api_platform()
    view = orders.cancel_order(
        order_id, account=account.account_id, accounts=api.platform.accounts, orders=api.orders
    )
    logger.info("order cancelled", extra={"order_id": order_id})
    return models.Order.model_validate(view)


@router.patch(
    "/orders/<order_id>",
    tags=["orders"],
    summary="Amend an order",
    responses=route_responses(models.Order, HTTPStatus.OK, BAD, MISSING, CONFLICT, UNAVAILABLE),
)
def amend_order(
    account: CallerAccount, order_id: OrderId, amendment: models.AmendOrder
) -> models.Order:
    """Amend an open order's ``quantity``, ``limit_price`` or ``stop_price`` in place (it keeps
    its id and its place in the queue); 400 naming the field the amended order would break,
    409 ``ORDER_NOT_AMENDABLE`` once it is filled, cancelled or rejected."""
    if (
        amendment.quantity is None
        and amendment.limit_price is None
        and amendment.stop_price is None
    ):
        raise InvalidRequestError("give quantity, limit_price or stop_price to amend", "body")
    view = orders.amend_order(
        order_id,
        quantity=amendment.quantity,
        limit_price=amendment.limit_price,
        stop_price=amendment.stop_price,
        account=account.account_id,
        accounts=get_api_platform().platform.accounts,
        orders=get_api_platform().orders,
        config=account.run_config(),
    )
    logger.info("order amended", extra={"order_id": order_id})
    return models.Order.model_validate(view)
