"""Local fakes of external services (LLM providers, the broker) that the real SDKs talk to over HTTP."""
