"""The product's shared package: settings, observability, domain logic and adapters for every function."""
