"""Training: a recipe and data in, a run directory out (`train`); the Trainer, the tokenized
splits it reads, frozen-encoder features and the baseline's fit live in this package."""
