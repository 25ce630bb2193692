"""Command line of the local stack.

    python -m local up        bring everything up, seeded with the demo business, and keep it up (Ctrl-C stops it)
    python -m local console   the same, quieter, with the web console's address
    python -m local token     mint a user token for the running stack
    python -m local consent   play the user on Xero's consent page (prints the body that completes connecting)
    python -m local fire      fire a schedule of the running stack now
    python -m local openapi   write docs/openapi.json from the handlers
    python -m local demo      run the product's story end to end and print it
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

import requests

from local.authorizer import DEFAULT_KEY_PATH, DevTokenAuthority
from local.template import REPO_ROOT

# Where `up` says which ports it serves on, for `fire`; a test's own stack names another file.
STATE_FILE = Path(os.environ.get("LOCAL_STACK_STATE_FILE") or REPO_ROOT / ".local" / "stack.json")


def _up(args: argparse.Namespace) -> int:
    from local.stack import DevStack, DevStackConfig

    config = DevStackConfig(api_port=args.api_port, moto_port=args.moto_port, xero_port=args.xero_port,
                            ledger_port=args.ledger_port, schedule_speed=args.schedule_speed,
                            log_level=args.log_level, key_path=DEFAULT_KEY_PATH, visibility_timeout=args.visibility)
    stack = DevStack(config).start()
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(stack.urls, indent=2))
    print(stack.describe())
    print(f"  {'ready in':<44} {stack.ready_seconds:.2f} s")
    if stack.xero is not None and stack.xero.strict_off_reason:
        print(f"\nThe Xero emulator's {stack.xero.strict_off_reason}")
    if args.seed:
        from local.console.seed import describe, seed_console
        from local.newcomer import describe_demo

        seed = seed_console(stack)
        print("\n" + describe(seed))
        print("\n" + describe_demo(seed, stack.urls["api"]))
        print(f"Open the web console: {stack.urls['console']}")
    else:
        print("\nNothing seeded (--no-seed): create businesses through the ledger emulator's /_ledger routes.")
        print("Fire a schedule now:  .venv/bin/python -m local fire EveryThreeHours")
    print("Ctrl-C stops the stack.")
    sys.stdout.flush()
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    stack.stop()
    STATE_FILE.unlink(missing_ok=True)
    return 0


def _token(args: argparse.Namespace) -> int:
    authority = DevTokenAuthority(key_path=DEFAULT_KEY_PATH)
    print(authority.mint(business_id=args.business, user_id=args.user, role=args.role, ttl_seconds=args.ttl))
    return 0


def _consent(args: argparse.Namespace) -> int:
    from local.newcomer import ConsentError, authorize_url_from, consent

    try:
        url = authorize_url_from(args.authorize_url or sys.stdin.read())
        print(json.dumps(consent(url, args.organisation, deny=args.deny)))
    except ConsentError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _running_api() -> str:
    if not STATE_FILE.exists():
        raise SystemExit("The local stack is not running: start it with `make up`.")
    return str(json.loads(STATE_FILE.read_text())["api"])


def _fire(args: argparse.Namespace) -> int:
    response = requests.post(_running_api() + "/_local/schedules", json={"name": args.name}, timeout=600)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.ok else 1


def _openapi(args: argparse.Namespace) -> int:
    from local.openapi import DOCUMENT_PATH, openapi_document

    rendered = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    path = Path(args.output) if args.output else DOCUMENT_PATH
    if args.check:
        if not path.exists() or path.read_text() != rendered:
            print(f"{path} is out of date: run `make openapi`.", file=sys.stderr)
            return 1
        print(f"{path} is up to date.")
        return 0
    path.write_text(rendered)
    print(f"wrote {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from local.demo import run_demo

    return run_demo()


def _fuzz(args: argparse.Namespace) -> int:
    from local.fuzz import run

    return run(max_examples=args.max_examples, seed=args.seed, phases=args.phases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    for name, quiet, helped in (("up", False, "bring the local stack up, seeded, and keep it up"),
                                ("console", True, "the same, quieter, for the web console")):
        up = commands.add_parser(name, help=helped)
        up.add_argument("--api-port", type=int, default=3000)
        up.add_argument("--moto-port", type=int, default=5000)
        up.add_argument("--xero-port", type=int, default=4010)
        up.add_argument("--ledger-port", type=int, default=4020)
        up.add_argument("--schedule-speed", type=float, default=1.0,
                        help="run schedules this many times faster than their rate (default: real time)")
        up.add_argument("--visibility", type=int, default=30, help="local queue visibility timeout, seconds")
        up.add_argument("--log-level", default="INFO" if not quiet else "WARNING")
        up.add_argument("--no-seed", dest="seed", action="store_false",
                        help="start empty, without the demo businesses and Xero organisations")
        up.set_defaults(run=_up, seed=True)

    token = commands.add_parser("token", help="mint a user token (business, user, role) for the local stack")
    token.add_argument("--business", required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True, help="Admin, Finance, Employee, Viewer...")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(run=_token)

    consent = commands.add_parser("consent", help="play the user on Xero's consent page (the Xero emulator)")
    consent.add_argument("--authorize-url", help="default: read POST /v1/xero/connect's answer on standard input")
    consent.add_argument("--organisation", help="the organisation's name or tenant id (when there are several)")
    consent.add_argument("--deny", action="store_true", help="refuse instead, as the user's Cancel would")
    consent.set_defaults(run=_consent)

    fire = commands.add_parser("fire", help="fire a schedule of the running stack now")
    fire.add_argument("name", help="the schedule's event name in template.yaml, e.g. EveryThreeHours")
    fire.set_defaults(run=_fire)

    openapi = commands.add_parser("openapi", help="write (or --check) the HTTP API's OpenAPI document")
    openapi.add_argument("--output")
    openapi.add_argument("--check", action="store_true")
    openapi.set_defaults(run=_openapi)

    demo = commands.add_parser("demo", help="run the product's story end to end on the local stack")
    demo.set_defaults(run=_demo)

    fuzz = commands.add_parser("fuzz", help="fuzz the HTTP API against its OpenAPI document (schemathesis)")
    fuzz.add_argument("--max-examples", type=int, default=40, help="examples per operation and phase")
    fuzz.add_argument("--seed", type=int, default=1)
    fuzz.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    fuzz.set_defaults(run=_fuzz)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
