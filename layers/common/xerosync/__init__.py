"""The product's shared package: settings, observability, domain logic and adapters for every function."""

import os

# pydantic looks for plugins when it builds its first validator, reading the entry points of every distribution
# installed: some 4 ms of each cold start (docs/architecture.md, "Cold start"). The product uses none; an
# environment that sets the variable keeps its own choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
