"""Debates: market data, the tool router, debate sessions, their messages and the consensus."""
