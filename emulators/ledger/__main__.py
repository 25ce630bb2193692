"""Run the ledger emulator on its own: ``python -m emulators.ledger --port 8081 --seed 7``.

With ``--event-bus-name`` (and ``--aws-endpoint-url`` for moto) events go to EventBridge; otherwise they are
only recorded and readable at ``GET /_ledger/events``.
"""

from __future__ import annotations

import argparse
import logging
import threading

from emulators.ledger.emulator import LedgerEmulator
from emulators.ledger.events import EventBridgePublisher, EventPublisher


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.ledger", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--seed", type=int, default=None, help="seed a demo ledger with this seed")
    parser.add_argument("--businesses", type=int, default=3)
    parser.add_argument("--transactions-per-account", type=int, default=2000)
    parser.add_argument("--event-bus-name", default=None, help="publish events to this EventBridge bus")
    parser.add_argument("--aws-endpoint-url", default=None, help="e.g. the moto server's URL")
    parser.add_argument("--aws-region", default="ap-southeast-1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    publisher: EventPublisher | None = None
    if args.event_bus_name:
        import boto3  # only needed when publishing; keeps the plain emulator free of AWS start-up cost

        client = boto3.client("events", endpoint_url=args.aws_endpoint_url, region_name=args.aws_region)
        publisher = EventBridgePublisher(client, args.event_bus_name)
    ledger = LedgerEmulator(event_publisher=publisher, event_bus_name=args.event_bus_name or "default")
    if args.seed is not None:
        summary = ledger.seed_demo(
            seed=args.seed, businesses=args.businesses, transactions_per_account=args.transactions_per_account
        )
        print(f"seeded {summary.transactions} transactions in {len(summary.account_ids)} accounts")
    print(f"ledger emulator at {ledger.start(args.host, args.port)} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        ledger.stop()


if __name__ == "__main__":
    main()
