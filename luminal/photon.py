"""``IPhoton``, the base class of photons, with metadata given as class keywords."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from luminal.dependencies import parse_requirements
from luminal.errors import FinalizerNotImplementedError
from luminal.hookspecs import hookimpl
from luminal.ownership import OWNED_ATTRIBUTE, Ownership, PhotonThread

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["IPhoton"]

T = TypeVar("T")

DEFAULT_TAGS = ("luminal", "photon")


class IPhoton:
    """Base class of photons.

    Metadata is given as class keywords and read back as class attributes::

        class Greeter(IPhoton, name="greeter", author="Ada", version="1.2.0", tags=["demo"]):
            \"\"\"Says hello.\"\"\"

    ``name`` defaults to the class name and ``description`` to the class docstring; ``author``
    (``"Unknown"``), ``version`` (``"0.0.0"``), ``tags`` (``["luminal", "photon"]``) and
    ``requires`` (none) are inherited from a parent photon class when not given.

    ``requires`` lists the photons this one needs running, each a photon name with an optional
    PEP 440 version specifier (``requires=["db>=1.2", "cache"]``; see :mod:`luminal.dependencies`);
    a malformed one is a ``TypeError`` or ``ValueError`` here, at class creation.

    Background work started through :meth:`spawn_thread`, :meth:`create_task` and
    :meth:`spawn_process` is owned by the photon and stopped when it is unloaded or reloaded.
    """

    photon_name: ClassVar[str] = "IPhoton"
    photon_author: ClassVar[str] = "Unknown"
    photon_version: ClassVar[str] = "0.0.0"
    photon_description: ClassVar[str] = ""
    photon_tags: ClassVar[list[str]] = list(DEFAULT_TAGS)
    photon_requires: ClassVar[tuple[Requirement, ...]] = ()

    def __init_subclass__(
        cls,
        *,
        name: str | None = None,
        author: str | None = None,
        version: str | None = None,
        description: str | None = None,
        tags: Sequence[str] | None = None,
        requires: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        for keyword, value in (("name", name), ("author", author), ("version", version)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"photon {keyword} must be a str, not {type(value).__name__}")
        if name is not None and (not name or "\0" in name):
            raise ValueError(
                f"photon name {name!r} names nothing: loader.photons, reload_photon and "
                "unload_photon refuse an empty name or one with a NUL byte"
            )
        if isinstance(tags, str) or (
            tags is not None and not all(isinstance(tag, str) for tag in tags)
        ):
            raise TypeError("photon tags must be a sequence of str")
        cls.photon_name = name if name is not None else cls.__name__
        if author is not None:
            cls.photon_author = author
        if version is not None:
            cls.photon_version = version
        doc = cls.__dict__.get("__doc__")
        cls.photon_description = (
            description if description is not None else (inspect.cleandoc(doc) if doc else "")
        )
        cls.photon_tags = list(tags) if tags is not None else list(cls.photon_tags)
        if requires is None and "photon_requires" in cls.__dict__:
            requires = cls.__dict__["photon_requires"]  # given in the body, as a version may be
        if requires is not None:
            cls.photon_requires = parse_requirements(requires, cls.photon_name)
        elif any(requirement.name == cls.photon_name for requirement in cls.photon_requires):
            raise ValueError(f"photon {cls.photon_name!r} cannot require itself (inherited)")

    @property
    def _luminal_ownership(self) -> Ownership:
        """What this instance started; created on first use, so ``__init__`` need not call super."""
        ownership: Ownership | None = self.__dict__.get(OWNED_ATTRIBUTE)
        if ownership is None:
            ownership = Ownership()
            self.__dict__[OWNED_ATTRIBUTE] = ownership
        return ownership

    def spawn_thread(
        self, target: Callable[..., object], *args: object, name: str | None = None, **kwargs: Any
    ) -> PhotonThread:
        """Start a daemon thread owned by this photon.

        ``target`` is called as ``target(stop_event, *args, **kwargs)``. When the photon stops,
        ``stop_event`` is set and the thread gets ``stop_timeout`` seconds to return. To exit
        promptly, wait on the event instead of sleeping (``while not stop_event.wait(1.0):``)
        and give blocking calls a timeout (``queue.get(timeout=...)``, socket timeouts).

        A thread that ignores the event is then interrupted:
        :class:`~luminal.ownership.PhotonStopRequested`, a ``SystemExit`` that ``except
        Exception`` does not catch, is raised at its next Python bytecode; ``finally`` blocks
        still run. Do not catch ``BaseException`` or ``SystemExit`` in a photon thread.
        CPython cannot interrupt a call blocked in C (``time.sleep``, ``Event.wait()`` without
        a timeout, a socket read): such a thread is reported through ``luminal_photon_error``
        and ends only when the call returns.

        :raises PhotonStopError: if the photon is already being stopped.
        """
        return self._luminal_ownership.spawn_thread(
            target, args, kwargs, name or f"{self.photon_name}-thread"
        )

    def create_task(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None
    ) -> asyncio.Task[T]:
        """Start an asyncio task on the running loop, owned by this photon.

        When the photon stops, the task is cancelled and awaited for ``stop_timeout`` seconds;
        one that swallows ``CancelledError`` and keeps running is reported.

        :raises PhotonStopError: if the photon is already being stopped (``coro`` is closed).
        """
        return self._luminal_ownership.create_task(coro, name or f"{self.photon_name}-task")

    def spawn_process(self, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start a child process with ``subprocess.Popen(argv, **popen_kwargs)``, owned by this
        photon.

        When the photon stops, the process gets ``SIGTERM`` and ``stop_timeout`` seconds to
        exit, then ``SIGKILL``; it is reaped and its pipes are closed. Only the child itself is
        signalled: a child that starts processes of its own must stop them on ``SIGTERM``.
        ``Popen`` rather than an asyncio subprocess because it works from any thread and any
        event loop; use ``asyncio.to_thread(process.wait)`` to await one.

        :raises PhotonStopError: if the photon is already being stopped.
        """
        return self._luminal_ownership.spawn_process(argv, popen_kwargs)

    async def finalize(self) -> None:
        """Release what the photon holds; called on graceful unload.

        It may be overridden by a plain ``def`` too. The base implementation raises
        :class:`FinalizerNotImplementedError`, which makes Luminal force-stop the photon instead.
        """
        raise FinalizerNotImplementedError(
            f"photon {self.photon_name!r} does not implement finalize()", self.photon_name
        )

    @hookimpl
    async def photon_finalize(self) -> None:
        """Call :meth:`finalize` (awaiting it when async): the documented finalizer of a photon."""
        outcome: object = self.finalize()
        if inspect.isawaitable(outcome):
            await outcome
