"""The leaderboard's daily rollup (written next)."""


def leaderboard_rollup_refresh() -> int:
    raise NotImplementedError
