from django.apps import AppConfig


class DebatesConfig(AppConfig):
    name = "debates"
    verbose_name = "Debates"

    def ready(self) -> None:
        """Health checks made through agents.services (command, admin action) land in the call ledger."""
        from agents.gateway import AgentResult
        from agents.services import register_check_recorder
        from debates.ledger import llm_calls_record

        def record_checks(results: list[AgentResult]) -> None:
            llm_calls_record(results=[(result, None) for result in results])

        register_check_recorder(record_checks)
