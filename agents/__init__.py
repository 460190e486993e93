"""Agents: who debates. Agent profiles, panels, role output schemas and the model providers."""
