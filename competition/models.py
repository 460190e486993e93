"""Models of the competition app (see docs/architecture.md)."""
