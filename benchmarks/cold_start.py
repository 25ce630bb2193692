"""Cold import time of each handler module: what a Lambda cold start pays before the first event.

Each figure is the median of 5 fresh interpreter processes importing the module the way Lambda does
(the layer's directory and the function's CodeUri on the path).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.template import Template, load_template  # noqa: E402

RUNS = 5
PROBE = (
    "import sys, time; sys.path[:0] = [{layer!r}, {code!r}]; t = time.perf_counter(); "
    "import {module}; print(time.perf_counter() - t)"
)


def main() -> None:
    body = load_template()
    template = Template(body, {n: "x" for n, spec in body["Parameters"].items() if "Default" not in spec})
    layer = str(ROOT / "layers" / "common")
    print(f"{'handler module':<28} {'median ms':>10} {'min':>8} {'max':>8}   (fresh process each, n={RUNS})")
    for spec in sorted(template.functions().values(), key=lambda s: s.module):
        times = []
        for _ in range(RUNS):
            code = PROBE.format(layer=layer, code=str(spec.code_uri), module=spec.module)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true"})
            times.append(float(out.stdout.strip()) * 1000)
        print(f"{spec.module:<28} {statistics.median(times):>10.0f} {min(times):>8.0f} {max(times):>8.0f}")


if __name__ == "__main__":
    main()
