"""Runs and reports of the caller's account."""

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
from trading.bootstrap import get_api_platform, get_platform
from trading.service import reports
from trading.service.pages import DEFAULT_PAGE_SIZE
from trading.service.runs import (
    StartRunRequest,
    describe_run,
    run_summary,
    start_run,
)

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/runs",
    tags=["runs"],
    summary="Start a run",
    responses=route_responses(
        models.StartedRun, HTTPStatus.ACCEPTED, BAD, MISSING, CONFLICT, UNAVAILABLE
    ),
)
def post_run(account: CallerAccount, run: models.StartRun) -> Response[models.StartedRun]:
    """Start a backtest of the account on an object under its folder ``raw/<account>/`` (its
    uploads), at the account's costs and margin unless ``config`` tries others; the run is
    the caller's account's, never a body field's."""
    api = get_api_platform()
    request = StartRunRequest.checked(
        key=run.key,
        bucket=run.bucket,
        config=account.backtest_config(run.config),
        run_id=run.run_id,
        market_data_bucket=api.platform.environment.market_data_bucket,
    )
    started = start_run(
        request,
        account=account.account_id,
        objects=api.sources,
        workflow=api.workflow,
        runs=api.platform.runs,
        accounts=api.platform.accounts,
    )
    logger.info("run started", extra={"run_id": started.run_id, "key": request.key})
    return json_response(HTTPStatus.ACCEPTED, started.to_dict())


@router.get(
    "/runs",
    tags=["runs"],
    summary="List runs",
    responses=route_responses(models.RunPage, HTTPStatus.OK, BAD),
)
def list_runs(
    account: CallerAccount, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> models.RunPage:
    """The account's runs, newest first; paginated."""
    page = get_platform().runs.list_runs(
        limit=limit, next_token=next_token, account=account.account_id
    )
    return models.RunPage.model_validate(
        {"runs": [run_summary(item) for item in page.items], "next_token": page.next_token}
    )


@router.get(
    "/runs/<run_id>",
    tags=["runs"],
    summary="Get a run",
    responses=route_responses(models.Run, HTTPStatus.OK, BAD, MISSING),
)
def get_run(account: CallerAccount, run_id: RunId) -> models.Run:
    """A run's status, settings, headline figures and step history."""
    run = describe_run(run_id, account=account.account_id, runs=get_platform().runs)
    return models.Run.model_validate(run.to_dict())


@router.get(
    "/reports/<run_id>",
    tags=["runs"],
    summary="A run's report",
    responses=route_responses(models.Report, HTTPStatus.OK, BAD, MISSING),
)
def get_report(account: CallerAccount, run_id: RunId) -> models.Report:
    """The run's JSON report and a presigned link to its HTML report (cached briefly)."""
    api = get_api_platform()
    document = reports.get_report(
        run_id,
        account=account.account_id,
        runs=api.platform.runs,
        objects=api.platform.objects,
        links=api.links,
        bucket=api.platform.environment.reports_bucket,
    )
    return models.Report.model_validate(document)
