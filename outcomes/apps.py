from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "outcomes"
    verbose_name = "Outcomes"

    def ready(self) -> None:
        """Hook into debates: decisions become intents, sessions show their trade, debates read the book."""
        from debates.extensions import register_session_section
        from debates.market.sources import register_account_source
        from debates.signals import consensus_batch_created, consensus_created
        from outcomes.receivers import on_consensus_batch_created, on_consensus_created
        from outcomes.sections import trade_section
        from outcomes.services import trading_account_source, trading_account_sources

        consensus_created.connect(on_consensus_created, dispatch_uid="outcomes.consensus_created")
        consensus_batch_created.connect(
            on_consensus_batch_created, dispatch_uid="outcomes.consensus_batch_created"
        )
        register_session_section("trade", trade_section)
        register_account_source(trading_account_source, many=trading_account_sources)
