"""Arena: LLM analyst agents debate a trade and a judge decides."""
