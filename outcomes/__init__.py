"""Outcomes: from consensus to order intent, broker order and fills, and how each decision turned out."""
