"""``python -m local.soak [--seed N] [--rate 0.2] [--short]``: play a world, audit it, print the table; the exit
status is 1 when anything is missing, duplicated or stuck."""

from __future__ import annotations

import argparse
import faulthandler
import pickle
import signal
import sys
import time

from local.soak.audit import audit
from local.soak.driver import Driver, Options
from local.soak.profile import Sampler
from local.soak.world import WorldSize, plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="the world and every fault decision (default 1)")
    parser.add_argument("--rate", type=float, default=0.2, help="share of calls at each boundary that meet a fault")
    size_group = parser.add_mutually_exclusive_group()
    size_group.add_argument("--short", action="store_true", help="6 businesses on 3 organisations over 3 days")
    size_group.add_argument("--ci", action="store_true",
                            help="3 businesses on 2 organisations over 2 days: what CI runs (a minute or two)")
    parser.add_argument("--businesses", type=int, help="override the number of businesses")
    parser.add_argument("--organisations", type=int, help="override the number of Xero organisations")
    parser.add_argument("--days", type=int, help="override the number of days")
    parser.add_argument("--concurrency", type=int, default=4, help="invocations in flight per queue (default 4)")
    parser.add_argument("--facts", metavar="FILE",
                        help="also keep what the auditor read (a pickle), to look into a failure")
    parser.add_argument("--strict", action="store_true",
                        help="hold every request to Xero's OpenAPI files, as the tests do (slower)")
    parser.add_argument("--aws-over-http", action="store_true",
                        help="send the product's AWS calls to moto server over loopback, as the tests do (slower)")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample every thread's stack and write where the real time went (local/soak/profile.py)")
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack, to see what a run waits on
    if not 0 <= args.rate < 1:
        parser.error("--rate is a share of calls, from 0 up to (not including) 1")
    size = WorldSize.short() if args.short else WorldSize.ci() if args.ci else WorldSize()
    overrides = {k: v for k, v in (("businesses", args.businesses), ("organisations", args.organisations),
                                   ("days", args.days)) if v is not None}
    if overrides:
        size = WorldSize(**{**size.__dict__, **overrides})
    world = plan(args.seed, size)
    started = time.monotonic()
    sampler = Sampler().start() if args.profile else None
    facts = Driver(world, Options(seed=args.seed, rate=args.rate, concurrency=args.concurrency, strict=args.strict,
                                  aws_over_http=args.aws_over_http,
                                  progress=lambda line: print(line, flush=True))).run()
    if sampler is not None:
        sampler.stop()
        with open(args.profile, "w") as kept:
            kept.write(sampler.report() + "\n")
    if args.facts:
        with open(args.facts, "wb") as kept:
            pickle.dump(facts, kept)
    report = audit(facts)
    title = (f"Soak, seed {args.seed}, faults at {args.rate:.0%} of calls at every boundary: {world.describe()}; "
             f"{time.monotonic() - started:,.0f} s")
    print()
    print(report.render(title))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
