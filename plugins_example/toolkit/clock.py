"""A photon that lives in a sub-module of a package."""

import datetime

from luminal import IPhoton, hookimpl


class Clock(IPhoton, name="clock", author="Luminal", version="0.1.0", tags=["demo", "time"]):
    """Tells the time when greeting."""

    @hookimpl
    def greet(self, who: str) -> str:
        now = datetime.datetime.now().strftime("%H:%M")
        return f"{who}, it is {now}."

    async def finalize(self) -> None:
        print("[clock] finalized")
