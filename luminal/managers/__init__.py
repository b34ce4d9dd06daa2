"""The loader's parts: the handler, the registry, the operations, reloading and watching.

Import the loader from :mod:`luminal` or :mod:`luminal.managers.loader`; the parts never import
it, so this package does not either. Nor does it import its parts up front: a part imports this
package before itself, so a package that imported a part would close an import cycle, and two
threads importing two parts for the first time could each wait for the other's module lock.
"""

from typing import TYPE_CHECKING, Any

from luminal.lazy import package_attribute

if TYPE_CHECKING:
    from luminal.managers.handler import Handler, HandlerState, PhotonOrigin

_LAZY_NAMES = {
    name: "luminal.managers.handler" for name in ("Handler", "HandlerState", "PhotonOrigin")
}


def __getattr__(name: str) -> Any:
    """``Handler``, ``HandlerState`` and ``PhotonOrigin``, and the parts, when asked for."""
    return package_attribute(globals(), _LAZY_NAMES, name)


__all__ = ["Handler", "HandlerState", "PhotonOrigin"]
