"""The local runner: everything the product meets in AWS, emulated (moto server), with the Xero and ledger
emulators (``emulators/``, beside this package) started beside it, and a runner that serves template.yaml's routes,
pumps its queues and fires its schedules; the demo, the web console and the soak run on it."""
