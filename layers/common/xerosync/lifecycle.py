"""Things built once per execution environment (a Lambda cold start): settings, AWS clients, adapters.

Decorate a getter with ``@per_cold_start`` instead of ``functools.cache``; ``new_cold_start()`` forgets them
all at once, which is what a test or the local stack does when it points the environment elsewhere.

In Lambda each function has execution environments of its own. Where several functions share one process
(the local runner), ``set_environment_key`` tells which function runs now, so that each keeps its own
clients, secret and tokens, as in AWS, and none runs on what another one fetched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_caches: list[dict[Hashable, Any]] = []
_environment_key: Callable[[], Hashable] = lambda: None  # noqa: E731 - one process, one environment


def per_cold_start(getter: F) -> F:
    return _cached(getter, per_function=True)


def per_process(getter: F) -> F:
    """Like ``per_cold_start``, but shared by every function of the process: for what holds nothing of a
    function's own (a boto3 session's loaded service models, which take ~80 ms to build)."""
    return _cached(getter, per_function=False)


def _cached(getter: F, *, per_function: bool) -> F:
    cache: dict[Hashable, Any] = {}
    _caches.append(cache)

    @functools.wraps(getter)
    def cached(*args: Any) -> Any:
        key = (_environment_key() if per_function else None, args)
        if key not in cache:
            cache.setdefault(key, getter(*args))
        return cache[key]

    return cached  # type: ignore[return-value]


def set_environment_key(provider: Callable[[], Hashable]) -> None:
    global _environment_key
    _environment_key = provider


def new_cold_start() -> None:
    for cache in _caches:
        cache.clear()
