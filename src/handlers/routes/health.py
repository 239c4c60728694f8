"""``GET /health``: liveness, no API key, no token."""

from __future__ import annotations

import os

from aws_lambda_powertools.event_handler.api_gateway import Router

from handlers import api_models as models
from trading.bootstrap import service_name

router = Router()  # type: ignore[no-untyped-call]
DEFAULT_SERVICE = "api"
"""The service name when the function has none."""


@router.get("/health", tags=["health"], security=[], summary="Liveness (no API key)")
def health() -> models.Health:
    """Liveness: the function answers (no AWS call)."""
    return models.Health(
        status="ok",
        service=service_name() or DEFAULT_SERVICE,
        # The deployed function's version ("$LATEST" unless a version is published).
        version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    )
