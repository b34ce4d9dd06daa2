"""Several photons in one file: they load, reload and unload together."""

from luminal import IPhoton, hookimpl


class Sunny(IPhoton, name="sunny", author="Luminal", version="0.2.0"):
    """Reports sunshine."""

    @hookimpl
    def greet(self, who: str) -> str:
        return f"The sun shines on {who}."

    async def finalize(self) -> None:
        print("[sunny] finalized")


class Rainy(IPhoton, name="rainy", author="Luminal", version="0.2.0"):
    """Reports rain; answers asynchronously."""

    @hookimpl
    async def greet(self, who: str) -> str:
        return f"It rains on {who}."

    async def finalize(self) -> None:
        print("[rainy] finalized")
