"""What the model looked at: per-word importances and attention matrices from each model's own
attention (`explain`), rendered as PNG heatmaps and an offline HTML page (`render`)."""
