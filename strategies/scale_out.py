"""An event-driven strategy: enter on a breakout, scale out of half at a target, stop the rest
at break-even."""

from trading.sdk import EventStrategy, Param


class ScaleOut(EventStrategy):
    """Buy on a close above the highest high of the last `window` bars. Once filled: a limit
    order sells half at `target` above the entry and a stop sells everything `stop` below it;
    when the half is sold, the stop of the rest moves up to the entry price. A close below the
    lowest low of the last `window` bars sells what is left."""

    name = "scale_out"
    description = "breakout entry, half off at a target, the rest stopped at break-even"
    params = (
        Param("window", int, 20, 2, 500, "bars of the entry and exit channels"),
        Param("target", float, 0.05, 0.001, 1.0, "take half off this fraction above the entry"),
        Param("stop", float, 0.05, 0.001, 0.5, "stop everything this fraction below the entry"),
        Param("fraction", float, 0.5, 0.01, 1.0, "fraction of the cash each entry uses"),
    )

    @property
    def warmup(self):
        return int(self["window"]) + 1

    def on_bar(self, ctx):
        bars, n, state = ctx.bars, int(self["window"]), ctx.state
        if len(bars) <= n:
            return
        if ctx.position == 0:
            for order in ctx.open_orders:  # what the last trade left working
                ctx.cancel(order)
            state.clear()
            if ctx.close > bars.high[-n - 1 : -1].max():
                ctx.buy(fraction=self["fraction"])
            return
        if "entry" not in state:  # the entry filled at this bar's open
            entry = state["entry"] = ctx.open
            state["size"] = ctx.position
            half = ctx.position // 2
            if half:
                ctx.sell(half, limit=entry * (1 + self["target"]), reduce_only=True)
            state["stop"] = ctx.sell(
                ctx.position, stop=entry * (1 - self["stop"]), reduce_only=True
            )
        elif ctx.position < state["size"] and not state.get("scaled"):
            state["scaled"] = True  # the half is sold: the rest risks nothing
            ctx.cancel(state["stop"])
            state["stop"] = ctx.sell(ctx.position, stop=state["entry"], reduce_only=True)
        if ctx.close < bars.low[-n - 1 : -1].min():
            for order in ctx.open_orders:
                ctx.cancel(order)
            ctx.close_position()
