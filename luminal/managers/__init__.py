"""The loader's parts: the handler, the registry, the operations, reloading and watching.

Import the loader from :mod:`luminal` or :mod:`luminal.managers.loader`; the parts never import
it, so this package does not either.
"""

from luminal.managers.handler import Handler, HandlerState, PhotonOrigin

__all__ = ["Handler", "HandlerState", "PhotonOrigin"]
