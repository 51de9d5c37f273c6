"""Text to token ids and back to batches: tokenizers, the word vectorizer, truncation, long texts
as windows (and their outputs combined back into one per text), and the one batching path (sort
by length, pad, run, unsort) that training, inference, features, explain and export share."""
