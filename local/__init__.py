"""Local emulation of everything the product meets in AWS: moto server for AWS, the Xero and ledger
emulators, and a runner that serves template.yaml's routes, pumps its queues and fires its schedules."""
