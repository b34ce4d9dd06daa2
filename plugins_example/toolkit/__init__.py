"""A photon package: loaded with ``recursive=True``; its modules reload as one unit."""

from .clock import Clock

__all__ = ["Clock"]
