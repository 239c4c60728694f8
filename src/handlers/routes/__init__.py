"""The API's routes, one Powertools ``Router`` per resource, included by ``handlers.api``."""

from handlers.routes import account, admin, health, market_data, orders, runs, sweeps

ROUTERS = (
    health.router,
    orders.router,
    account.router,
    market_data.router,
    runs.router,
    sweeps.router,
    admin.router,
)
"""Every router, in the order the OpenAPI document lists their routes."""
