"""A photon in a file of its own: metadata, a finalizer, a host hook and state kept on reload.

While ``luminal run plugins_example`` runs, change ``GREETING`` and save: the photon is
reloaded and its ``photon_start`` prints the new greeting.
"""

from luminal import IPhoton, hookimpl

GREETING = "Hello"


class Greeter(IPhoton, name="greeter", author="Luminal", version="1.0.0", tags=["demo"]):
    """Greets whoever the host names, and the world whenever it starts."""

    def __init__(self) -> None:
        self.greeted = 0

    @hookimpl
    def photon_start(self) -> None:
        print(f"[greeter] {GREETING}, world! (version {self.photon_version})")

    @hookimpl
    def greet(self, who: str) -> str:
        self.greeted += 1
        return f"{GREETING}, {who}! (greeting #{self.greeted})"

    @hookimpl
    def photon_export_state(self) -> int:
        return self.greeted

    @hookimpl
    def photon_import_state(self, state: int) -> None:
        self.greeted = state

    async def finalize(self) -> None:
        print(f"[greeter] finalized after {self.greeted} greeting(s)")
