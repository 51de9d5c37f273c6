"""How good a classifier is: metrics (scikit-learn), reports on disk, and the leaderboard that
measures several runs on the same texts."""
