"""Batch scoring of a file of any size: `attentext predict RUN --input FILE --output OUT`.

The design, in the order a row travels:

- `sources.py` reads the input in chunks of `--chunk-rows` rows, never whole: Parquet and
  CSV/TSV through pyarrow's streaming readers (rebatched to exact chunk sizes), JSONL and plain
  text a block of bytes at a time, split into lines here so that one bad line (invalid JSON or
  UTF-8) is one bad row, not a failed file. Chunk `i` is always rows `[i*N, (i+1)*N)` of the
  input: that is what makes chunks resumable. Where pyarrow's CSV reader stops (a row longer
  than its block, a row of another width), `csv_rows.py` reads on with Python's csv module.
- `results.py` turns a chunk's texts into result columns (`label`, `score`, `label_2`/`score_2`
  ... for `--top-k`, `prob_<label>` for `--all-scores`). A row whose text is missing, empty or
  not a string is not classified: it keeps its place in the output with null label and scores,
  and is listed, with its row number and why, in `OUT.errors.jsonl`. So the output always has
  one row per input row, in order. The Ray `Predictor` maps its batches with the same code.
- `workers.py` scores in this process or in `--workers N` spawned processes, each loading the
  model once with cores/N threads; chunks go out in order and are committed in order.
- `workdir.py` commits each chunk atomically as two files of the work folder `OUT.parts/`:
  `errors-<i>.jsonl` first, then `part-<i>.<ext>` (written to a temporary, renamed: the part's
  presence IS the commit). `manifest.json` records what the parts were made from: the run
  directory's digest, the input's size and digest, and the options that shape the output. At
  the end the errors parts are concatenated into `OUT.errors.jsonl` and the parts into `OUT`
  (each written beside its target and renamed), then `OUT.parts/` is removed. A killed run
  leaves committed parts and, at worst, temporaries; `--resume` removes the temporaries,
  checks the manifest (a changed model, input or option is refused in one line), skips the
  committed chunks and scores the rest, so each input row is written exactly once. The output
  is held with `files.exclusive_lock` for the whole run: two runs never write one output.
- `sinks.py` writes a part in the output's format (by its extension: .jsonl, .csv, .tsv,
  .parquet) and assembles the parts (bytes concatenated for text formats; row groups copied
  for Parquet).
- `engine.py` ties them together with a progress bar (texts/s, and an ETA where the row count
  is known without reading the file: Parquet).

Memory is bounded by the chunk size times the chunks in flight (one in this process; two per
worker), never by the file.
"""
