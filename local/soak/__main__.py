"""``python -m local.soak [--seed N] [--rate 0.2] [--short]``: play a world, audit it, print the table; the exit
status is 1 when anything is missing, duplicated or stuck."""

from __future__ import annotations

import argparse
import faulthandler
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time

from local.soak.audit import Facts, audit, merge
from local.soak.driver import Driver, Options
from local.soak.profile import Sampler
from local.soak.world import World, WorldSize, plan, split


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
    parser.add_argument("--emulators-over-http", action="store_true",
                        help="send the product's Xero and ledger calls to the emulators over loopback, as the tests "
                             "do (slower)")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample every thread's stack and write where the real time went (local/soak/profile.py)"
                             "; with several processes, one file each (FILE.1, FILE.2...)")
    parser.add_argument("--processes", type=int, default=2,
                        help="play the world as this many groups of organisations, one process (and stack) each, "
                             "and audit them as one (default 2: the machine's cores; 1 plays it in this process)")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # "i/N": play group i of N, keep its facts in --facts
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
    if args.part:
        index, parts = (int(n) for n in args.part.split("/"))
        facts = _play(split(world, parts)[index - 1], args, prefix=f"[{index}/{parts}] ")
        with open(args.facts, "wb") as kept:
            pickle.dump(facts, kept)
        return 0
    groups = split(world, args.processes)
    facts = _play(groups[0], args, prefix="") if len(groups) == 1 else _play_in_processes(len(groups), argv, args)
    facts.real_seconds = time.monotonic() - started
    if args.facts:
        with open(args.facts, "wb") as kept:
            pickle.dump(facts, kept)
    report = audit(facts)
    title = (f"Soak, seed {args.seed}, faults at {args.rate:.0%} of calls at every boundary, world {world.digest()}: "
             f"{world.describe()}; "
             f"{time.monotonic() - started:,.0f} s")
    print()
    print(report.render(title))
    return 1 if report.failures else 0


def _play(world: World, args: argparse.Namespace, prefix: str) -> Facts:
    sampler = Sampler().start() if args.profile else None
    facts = Driver(world, Options(seed=args.seed, rate=args.rate, concurrency=args.concurrency, strict=args.strict,
                                  aws_over_http=args.aws_over_http, emulators_over_http=args.emulators_over_http,
                                  progress=lambda line: print(prefix + line, flush=True))).run()
    if sampler is not None:
        sampler.stop()
        with open(args.profile, "w") as kept:
            kept.write(sampler.report() + "\n")
    return facts


def _play_in_processes(parts: int, argv: list[str] | None, args: argparse.Namespace) -> Facts:
    """Each group of organisations played by a process of its own (its own stack: moto, emulators, runner, clock),
    with the same seed, rate and options; their facts merged for one audit. The groups share nothing the product
    keeps, so this is the world's run, on as many cores as there are groups."""
    given = list(sys.argv[1:] if argv is None else argv)
    base = _without(given, ("--processes", "--facts", "--profile"))
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        kept = [os.path.join(folder, f"facts-{n}.pickle") for n in range(1, parts + 1)]
        children = []
        for n in range(1, parts + 1):
            command = [sys.executable, "-m", "local.soak", *base, "--part", f"{n}/{parts}", "--facts", kept[n - 1]]
            if args.profile:
                command += ["--profile", f"{args.profile}.{n}"]
            children.append(subprocess.Popen(command))  # noqa: S603 (this interpreter, our own arguments)
        codes = [child.wait() for child in children]
        if any(codes):
            raise SystemExit(f"a group's run ended without facts (exit codes {codes})")
        facts = []
        for path in kept:
            with open(path, "rb") as read:
                facts.append(pickle.load(read))  # noqa: S301 (written by our own children just now)
    return merge(facts)


def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``argv`` less the given options and their values (``--opt value`` or ``--opt=value``)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in options)):
            kept.append(arg)
    return kept


if __name__ == "__main__":
    sys.exit(main())
