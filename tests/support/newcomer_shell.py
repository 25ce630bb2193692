"""The shell a newcomer types the README's commands into: at the checkout's root, where `make venv` made `.venv`.

A checkout with no `.venv` of its own (a second git worktree whose tests run with another checkout's
environments) lets the environment running the tests stand in for it, never re-creating one: `.venv/bin/python`
in a command is this interpreter, and `make` uses this environment as its ``VENV``, taken as installed. Where
`.venv` exists (a checkout set up as the README says, CI) the commands run exactly as written.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from local.template import REPO_ROOT

_OWN_VENV = REPO_ROOT / ".venv"
_RUNNING_VENV = Path(sys.prefix)


def uses_another_checkouts_venv() -> bool:
    return not _OWN_VENV.exists() and Path(sys.base_prefix) != _RUNNING_VENV


def make_arguments() -> list[str]:
    """What `make` needs after its name to use the running environment as ``.venv`` (nothing where `.venv` is)."""
    if not uses_another_checkouts_venv():
        return []
    return ["-o", f"{_RUNNING_VENV}/.installed", f"VENV={_RUNNING_VENV}"]


def as_typed(command: str) -> str:
    """``command`` as this checkout's shell runs it: with `.venv/bin/python` and `make` as described above."""
    if not uses_another_checkouts_venv():
        return command
    arguments = " ".join(shlex.quote(argument) for argument in make_arguments())
    return (f"make() {{ command make {arguments} \"$@\"; }}\n"
            + command.replace(".venv/bin/python", shlex.quote(sys.executable)))
