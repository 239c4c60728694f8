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
    Limit,
    NextToken,
    RunId,
    json_response,
    request_account,
    route_responses,
)
from handlers.observability import logger
from trading.bootstrap import get_api_platform, get_platform
from trading.service import reports
from trading.service.access import AccountProfile
from trading.service.pages import DEFAULT_PAGE_SIZE
from trading.service.runs import (
    StartRunRequest,
    describe_run,
    run_summary,
    start_run,
)

router = Router()  # type: ignore[no-untyped-call]


def _account() -> AccountProfile:
    """The account this request acts on (see :func:`handlers.api_caller.request_account`)."""
    return request_account(router.current_event.raw_event)


@router.post(
    "/runs",
    tags=["runs"],
    summary="Start a run",
    responses=route_responses(
        models.StartedRun, HTTPStatus.ACCEPTED, BAD, MISSING, CONFLICT, UNAVAILABLE
    ),
)
def post_run(run: models.StartRun) -> Response[models.StartedRun]:
    """Start a backtest of the account on an object under its folder ``raw/<account>/`` (its
    uploads); the run is the caller's account's, never a body field's."""
    account = _account().account_id
    api = get_api_platform()
    request = StartRunRequest.checked(
        key=run.key,
        bucket=run.bucket,
        config=run.config,
        run_id=run.run_id,
        market_data_bucket=api.platform.environment.market_data_bucket,
    )
    started = start_run(
        request,
        account=account,
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
def list_runs(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> models.RunPage:
    """The account's runs, newest first; paginated."""
    account = _account().account_id
    page = get_platform().runs.list_runs(limit=limit, next_token=next_token, account=account)
    return models.RunPage.model_validate(
        {"runs": [run_summary(item) for item in page.items], "next_token": page.next_token}
    )


@router.get(
    "/runs/<run_id>",
    tags=["runs"],
    summary="Get a run",
    responses=route_responses(models.Run, HTTPStatus.OK, BAD, MISSING),
)
def get_run(run_id: RunId) -> models.Run:
    """A run's status, settings, headline figures and step history."""
    account = _account().account_id
    run = describe_run(run_id, account=account, runs=get_platform().runs)
    return models.Run.model_validate(run.to_dict())


@router.get(
    "/reports/<run_id>",
    tags=["runs"],
    summary="A run's report",
    responses=route_responses(models.Report, HTTPStatus.OK, BAD, MISSING),
)
def get_report(run_id: RunId) -> models.Report:
    """The run's JSON report and a presigned link to its HTML report (cached briefly)."""
    account = _account().account_id
    api = get_api_platform()
    document = reports.get_report(
        run_id,
        account=account,
        runs=api.platform.runs,
        objects=api.platform.objects,
        links=api.links,
        bucket=api.platform.environment.reports_bucket,
    )
    return models.Report.model_validate(document)
