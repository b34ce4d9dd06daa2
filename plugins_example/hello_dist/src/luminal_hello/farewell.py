"""Named by the entry point ``farewell = "luminal_hello.farewell"``: all its photons load."""

from luminal import IPhoton, hookimpl


class Farewell(IPhoton, name="farewell", author="Luminal", version="0.1.0", tags=["demo"]):
    """Says goodbye."""

    @hookimpl
    def greet(self, who: str) -> str:
        return f"Goodbye, {who}."

    async def finalize(self) -> None:
        print("[farewell] finalized")
