"""DynamoDB adapters. Key shapes of the main table live in ``keys`` and nowhere else."""
