"""Things built once per execution environment (a Lambda cold start): settings, AWS clients, adapters.

Decorate a getter with ``@per_cold_start`` instead of ``functools.cache``; ``new_cold_start()`` forgets them
all at once, which is what a test or the local stack does when it points the environment elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_caches: list[Any] = []


def per_cold_start(getter: F) -> F:
    cached = functools.cache(getter)
    _caches.append(cached)
    return cached  # type: ignore[return-value]


def new_cold_start() -> None:
    for cached in _caches:
        cached.cache_clear()
