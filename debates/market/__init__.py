"""Market data helpers: the synthetic demo dataset and strict CSV import of user bars."""
