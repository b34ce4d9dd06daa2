"""The loader and the handler: the two classes a host works with."""

from luminal.managers.handler import Handler, HandlerState, PhotonOrigin
from luminal.managers.loader import Loader

__all__ = ["Handler", "HandlerState", "Loader", "PhotonOrigin"]
