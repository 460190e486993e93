"""Competition: trader profiles compete in backtest and paper runs; the leaderboard ranks agents."""
