"""Parameter sweeps of the caller's account: start one on the research workflow, follow its
progress, page through its leaderboard."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers import api_models as models
from handlers.api_caller import (
    BAD,
    CONFLICT,
    MISSING,
    UNAVAILABLE,
    CallerAccount,
    Limit,
    NextToken,
    RunId,
    json_response,
    route_responses,
)
from handlers.observability import logger
from trading.bootstrap import ConfigurationError, get_api_platform
from trading.service.pages import DEFAULT_PAGE_SIZE
from trading.service.sweeps import (
    StartSweepCommand,
    describe_sweep,
    start_sweep,
    sweep_results,
)

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/sweeps",
    tags=["sweeps"],
    summary="Start a parameter sweep",
    responses=route_responses(
        models.StartedSweep, HTTPStatus.ACCEPTED, BAD, MISSING, CONFLICT, UNAVAILABLE
    ),
)
def post_sweep(account: CallerAccount, sweep: models.StartSweep) -> Response[models.StartedSweep]:
    """Start the research workflow on a sweep of the account's data (an object under
    ``raw/<account>/``); the sweep is the caller's account's."""
    api = get_api_platform()
    if api.research is None:
        raise ConfigurationError("missing environment variable(s): RESEARCH_STATE_MACHINE_ARN")
    command = StartSweepCommand.checked(
        key=sweep.key,
        bucket=sweep.bucket,
        request=sweep.request,
        sweep_id=sweep.sweep_id,
        market_data_bucket=api.platform.environment.market_data_bucket,
    )
    started = start_sweep(
        command,
        account=account.account_id,
        objects=api.sources,
        workflow=api.research,
        sweeps=api.platform.sweeps,
    )
    logger.info("sweep started", extra={"sweep_id": started.sweep_id, "key": command.key})
    return json_response(HTTPStatus.ACCEPTED, started.to_dict())


@router.get(
    "/sweeps/<sweep_id>",
    tags=["sweeps"],
    summary="Get a sweep",
    responses=route_responses(models.Sweep, HTTPStatus.OK, BAD, MISSING),
)
def get_sweep(account: CallerAccount, sweep_id: RunId) -> models.Sweep:
    """A sweep's status, progress (items done and failed, from its map run) and best result
    (so far, while it runs)."""
    api = get_api_platform()
    document = describe_sweep(
        sweep_id,
        account=account.account_id,
        sweeps=api.platform.sweeps,
        progress=api.sweep_progress,
    )
    return models.Sweep.model_validate(document)


@router.get(
    "/sweeps/<sweep_id>/results",
    tags=["sweeps"],
    summary="A sweep's leaderboard",
    responses=route_responses(models.SweepResults, HTTPStatus.OK, BAD, MISSING),
)
def get_sweep_results(
    account: CallerAccount,
    sweep_id: RunId,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> models.SweepResults:
    """The sweep's results ranked by its objective, best first; paginated."""
    platform = get_api_platform().platform
    page = sweep_results(
        sweep_id,
        account=account.account_id,
        sweeps=platform.sweeps,
        objects=platform.objects,
        bucket=platform.environment.reports_bucket,
        limit=limit,
        next_token=next_token,
    )
    return models.SweepResults.model_validate(page)
