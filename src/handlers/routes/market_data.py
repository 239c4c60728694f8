"""Market data of the caller's account: quotes, batches of bars, upload links."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from handlers import api_models as models
from handlers.api_caller import (
    BAD,
    CONFLICT,
    MISSING,
    UNAVAILABLE,
    CallerAccount,
    json_response,
    route_responses,
)
from handlers.observability import logger
from trading.bootstrap import get_api_platform, get_platform
from trading.service import market_data
from trading.service.errors import QuoteNotFoundError

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/quotes/<symbol>",
    tags=["market data"],
    summary="Latest bar",
    responses=route_responses(models.Quote, HTTPStatus.OK, BAD, MISSING),
)
def get_quote(
    account: CallerAccount, symbol: Annotated[str, Path(pattern=models.SYMBOL_PATTERN)]
) -> models.Quote:
    """The latest bar of ``symbol`` in the account's own data (its uploads and batches): one
    account's bars never move another's quotes (cached by the stage for a few seconds, per
    token and account)."""
    quote = get_platform().quotes.get_latest(symbol, account.account_id)
    if quote is None:
        raise QuoteNotFoundError(f"no bar of {symbol} has been processed")
    return models.Quote.model_validate({**quote.bar.to_dict(), "run_id": quote.run_id})


@router.post(
    "/market-data",
    tags=["market data"],
    summary="Process a batch of bars",
    responses=route_responses(models.StartedRun, HTTPStatus.ACCEPTED, BAD, CONFLICT, UNAVAILABLE),
)
def post_market_data(
    account: CallerAccount, batch: models.MarketDataBatch
) -> Response[models.StartedRun]:
    """Validate the bars like an uploaded file and start the account's run on them: pending
    orders fill on their symbol's next bar. 400 ``INVALID_MARKET_DATA`` lists the bad bars."""
    api = get_api_platform()
    environment = api.platform.environment
    started = market_data.ingest_bars(
        batch.bars,
        account=account,
        bucket=environment.market_data_bucket,
        config=batch.config,
        run_id=batch.run_id,
        objects=api.platform.objects,
        workflow=api.workflow,
        runs=api.platform.runs,
        accounts=api.platform.accounts,
    )
    logger.info("market data batch", extra={"run_id": started.run_id, "bars": len(batch.bars)})
    return json_response(HTTPStatus.ACCEPTED, started.to_dict())


@router.post(
    "/market-data/uploads",
    tags=["market data"],
    summary="Presigned upload URL for a large file",
    responses=route_responses(models.UploadTarget, HTTPStatus.CREATED, BAD),
)
def post_upload(
    account: CallerAccount, upload: models.UploadRequest
) -> Response[models.UploadTarget]:
    """A presigned PUT URL of one key under ``raw/<account>/``: the upload starts the
    account's run on the file."""
    api = get_api_platform()
    environment = api.platform.environment
    target = market_data.upload_target(
        upload.file_name,
        account=account,
        bucket=environment.market_data_bucket,
        config=upload.config,
        links=api.links,
    )
    return json_response(HTTPStatus.CREATED, target.to_dict())
