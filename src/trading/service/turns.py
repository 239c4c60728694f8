"""Runs of one live account take turns, in the order they arrived.

A run of a live paper account reads the account (its clock, the recent bars it warms up on)
in ProcessMarketData and changes it in ExecuteTrades. Two runs of one account interleaving
those steps would read a clock the other is about to move: the later bars could commit first
and the earlier ones be skipped, or a run warm up on history that misses the other's bars.
So each run queues a :class:`~trading.service.account.Turn` when its ProcessMarketData starts
(stamped with the moment the run arrived: the API's request, or the upload's first step) and
waits until every run that arrived before it is done:

- a run is done when its ExecuteTrades commits (the commit removes its turn atomically);
- a run whose record says it ended otherwise (FAILED: the failure path wrote it), or whose
  turn is older than :data:`TURN_EXPIRY_SECONDS` (an execution stopped by hand), gives up its
  turn to the next one, which removes it.

A run that waits longer than ``wait_seconds`` raises ``TransientStoreError``; the workflow
retries the step (it keeps its place in the queue).

>>> wait_for_turn("paper", Turn("2024-01-02T00:00:00.000Z", "r1"), accounts=accounts,
...               runs=runs)  # doctest: +SKIP
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime

from trading.errors import TransientStoreError
from trading.service.account import TradingAccount, Turn
from trading.service.ports import AccountRepository, RunRepository
from trading.service.steps import RUNNING, Clock, utc_now

TURN_WAIT_SECONDS = 60.0
"""How long one ProcessMarketData waits for the runs ahead of it (half its timeout)."""
TURN_EXPIRY_SECONDS = 900.0
"""A turn held this long belongs to a run that will never finish (stopped by hand, lost):
longer than a run's steps and their retries take."""
_POLL_CAP_SECONDS = 0.5


def wait_for_turn(
    account: str,
    turn: Turn,
    *,
    accounts: AccountRepository,
    runs: RunRepository,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    wait_seconds: float = TURN_WAIT_SECONDS,
) -> TradingAccount:
    """Queue ``turn`` and return the account (without its open orders) once it is first.

    Raises ``TransientStoreError`` naming the run ahead when ``wait_seconds`` pass first.
    """
    accounts.take_turn(account, turn)
    deadline = time.monotonic() + wait_seconds
    attempt = 0
    while True:
        loaded, queue = accounts.queue(account)
        ahead = [queued for queued in queue if queued < turn]
        waiting_on = [queued for queued in ahead if _holds(queued, runs, clock)]
        for gone in ahead:
            if gone not in waiting_on:
                accounts.drop_turn(account, gone)
        if not waiting_on:
            return loaded
        if time.monotonic() >= deadline:
            raise TransientStoreError(
                f"account {account} is busy: run {turn.run_id} waits for run "
                f"{waiting_on[0].run_id}, which arrived before it"
            )
        sleep(random.uniform(0, min(_POLL_CAP_SECONDS, 0.01 * 2 ** min(attempt, 10))))
        attempt += 1


def _holds(turn: Turn, runs: RunRepository, clock: Clock) -> bool:
    """Whether the run of ``turn`` may still commit: running, and not for too long."""
    record = runs.get(turn.run_id)
    if record is not None and record.get("status", RUNNING) != RUNNING:
        return False
    arrived = datetime.fromisoformat(turn.arrived_at.replace("Z", "+00:00"))
    return (clock() - arrived).total_seconds() < TURN_EXPIRY_SECONDS
