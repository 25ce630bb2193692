"""A seed reproduces the world: the same seed and size plan the same organisations, businesses and events (and the
same groups of them) in any process, whatever its hash seed; another seed plans another world."""

from __future__ import annotations

import subprocess
import sys

from local.soak.world import WorldSize, plan, split

SIZE = WorldSize(businesses=9, organisations=4, days=3)
PRINT_DIGESTS = ("from local.soak.world import WorldSize, plan, split;"
                 "w = plan(5, WorldSize(businesses=9, organisations=4, days=3));"
                 "print(w.digest(), *(g.digest() for g in split(w, 2)))")


def test_a_seed_plans_the_same_world_in_any_process() -> None:
    here = [plan(5, SIZE).digest(), *(g.digest() for g in split(plan(5, SIZE), 2))]
    for hash_seed in ("1", "2"):
        printed = subprocess.run([sys.executable, "-c", PRINT_DIGESTS], check=True, capture_output=True, text=True,
                                 env={"PYTHONHASHSEED": hash_seed, "PATH": ""}).stdout.split()
        assert printed == here


def test_another_seed_or_size_plans_another_world() -> None:
    assert plan(5, SIZE).digest() != plan(6, SIZE).digest()
    assert plan(5, SIZE).digest() != plan(5, WorldSize(businesses=9, organisations=4, days=4)).digest()
