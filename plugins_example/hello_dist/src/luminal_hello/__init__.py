"""The ``hello`` photon, named by the entry point ``hello = "luminal_hello:Hello"``."""

from luminal import IPhoton, hookimpl

from ._words import salute


class Hello(IPhoton, name="hello", author="Luminal", version="0.1.0", tags=["demo", "installed"]):
    """Greets from an installed distribution."""

    @hookimpl
    def greet(self, who: str) -> str:
        return salute(who)

    async def finalize(self) -> None:
        print("[hello] finalized")
