"""Models of the outcomes app (see docs/architecture.md)."""
