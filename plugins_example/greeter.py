"""A photon in a file of its own: metadata, a finalizer and a host hook."""

from luminal import IPhoton, hookimpl


class Greeter(IPhoton, name="greeter", author="Luminal", version="1.0.0", tags=["demo"]):
    """Greets whoever the host names."""

    def __init__(self) -> None:
        self.greeted = 0

    @hookimpl
    def photon_start(self) -> None:
        print(f"[greeter] started, version {self.photon_version}")

    @hookimpl
    def greet(self, who: str) -> str:
        self.greeted += 1
        return f"Hello, {who}! (greeting #{self.greeted})"

    @hookimpl
    def photon_export_state(self) -> int:
        return self.greeted

    @hookimpl
    def photon_import_state(self, state: int) -> None:
        self.greeted = state

    async def finalize(self) -> None:
        print(f"[greeter] finalized after {self.greeted} greeting(s)")
