# Two commands for a new user: `make demo` (install + train + evaluate) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ../shared/datasets/ag_news
RUN    ?= runs/demo-seed-transformer

.PHONY: install dev demo test test-slow lint bench leaderboard suite clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned to exactly 2.13.0 in pyproject.toml: a CPU wheel is served for that pin.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/attentext train seed-transformer --data $(DATA) --output $(RUN) --overwrite
	$(BIN)/attentext evaluate $(RUN) --data $(DATA)
	$(BIN)/attentext predict $(RUN) \
		"Oil prices jump as OPEC cuts output and stocks slide on Wall Street" \
		"The Yankees beat the Red Sox 5-3 to clinch the division title" \
		"NASA's new telescope spots water vapour on a distant exoplanet"

# One pytest-xdist worker per core (at most 4: each holds models in memory), each on one thread
# (tests/conftest.py): on 2 cores the suite takes ~8 min where one process took ~15.
test: dev
	$(BIN)/python -m pytest -q -n logical --maxprocesses 4 --durations=15

test-slow: dev
	$(BIN)/python -m pytest -q -m slow

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The benchmark suite (hours on 2 cores), then every README table again from benchmarks/results/.
# serve_load and export_parity measure the leaderboard's runs: `make leaderboard` first if absent.
# seed_keras runs only where TensorFlow/Keras are installed (pip install -e '.[keras-bench]').
SERVE_LOAD = $(BIN)/python benchmarks/serve_load.py $(LB)/encoder-finetune --data $(DATA) \
	--requests 150 --texts-per-request 8 --concurrency 8 --time-limit 90 --torch-threads 2
bench: dev
	$(BIN)/python benchmarks/seed_transformer.py --data $(DATA) --epochs 10 --padded-epochs 2
	@if $(BIN)/python -c "import importlib.util as u, sys; \
		sys.exit(not all(u.find_spec(m) for m in ('tensorflow', 'keras')))"; then \
		$(BIN)/python benchmarks/seed_keras.py --data $(DATA) --epochs 10; \
	else echo "seed_keras: skipped, TensorFlow/Keras not installed"; fi
	$(BIN)/python benchmarks/breakdown.py --data $(DATA)
	$(BIN)/python benchmarks/encoders.py frozen --data $(DATA)
	$(BIN)/python benchmarks/encoders.py hf --data $(DATA)
	$(BIN)/python benchmarks/encoders.py finetune --data $(DATA) --minutes 18 --eval-minutes 3 \
		--epochs 3 --speed-steps 10
	test -f $(LB)/encoder-finetune/attentext.json -a -f $(LB)/seed-transformer/attentext.json \
		-a -f $(LB)/attention-rnn/attentext.json || $(MAKE) leaderboard
	$(BIN)/attentext export $(LB)/encoder-finetune --format onnx --int8 --data $(DATA)
	$(SERVE_LOAD) --backend torch --precision fp32
	$(SERVE_LOAD) --backend torch --precision bf16
	$(SERVE_LOAD) --backend onnx-int8 --precision fp32
	$(BIN)/python benchmarks/export_parity.py $(LB)/seed-transformer $(LB)/attention-rnn --data $(DATA)
	$(BIN)/python benchmarks/serve_soak.py $(LB)/seed-transformer --data $(DATA)
	$(BIN)/python benchmarks/memory.py --data $(DATA)
	$(BIN)/python benchmarks/growth.py --data $(DATA)
	$(BIN)/python benchmarks/distributed.py --data $(DATA)
	$(BIN)/python benchmarks/startup.py --seed-run $(LB)/seed-transformer --tfidf-run $(LB)/tfidf-logreg
	$(BIN)/python benchmarks/batch_predict.py --tfidf-run $(LB)/tfidf-logreg --seed-run $(LB)/seed-transformer
	$(BIN)/python benchmarks/distill.py $(LB)/encoder-finetune --data $(DATA) \
		--unlabeled ../shared/datasets/ag_news_unlabeled/unlabeled.txt
	$(BIN)/python benchmarks/multilabel.py --data ../shared/datasets/reuters_modapte
	$(BIN)/python benchmarks/gpu_check.py --data $(DATA)
	$(BIN)/python benchmarks/tables.py

# Train every recipe on AG News with its budget, then compare them in one process. Budgets on a
# 2-core CPU: the recipes' defaults, except hf-frozen-base (the lesson's 32 steps) and
# encoder-finetune (300 steps of batch 32, ~2/3 of an epoch). Accuracy is measured on a fixed
# stratified sample of 2,000 test texts so that the slow encoders are measured in minutes.
LB := runs/leaderboard
leaderboard: install
	$(BIN)/attentext train tfidf-logreg     --data $(DATA) --output $(LB)/tfidf-logreg --overwrite
	$(BIN)/attentext train seed-transformer --data $(DATA) --output $(LB)/seed-transformer --overwrite
	$(BIN)/attentext train attention-rnn    --data $(DATA) --output $(LB)/attention-rnn --overwrite
	$(BIN)/attentext train encoder-frozen   --data $(DATA) --output $(LB)/encoder-frozen --overwrite
	$(BIN)/attentext train hf-frozen-base   --data $(DATA) --output $(LB)/hf-frozen-base --overwrite --max-steps 32
	$(BIN)/attentext train encoder-finetune --data $(DATA) --output $(LB)/encoder-finetune --overwrite --max-steps 300
	$(BIN)/attentext compare $(LB)/tfidf-logreg $(LB)/seed-transformer $(LB)/attention-rnn \
		$(LB)/encoder-frozen $(LB)/hf-frozen-base $(LB)/encoder-finetune \
		--data $(DATA) --limit 2000 --output benchmarks/results/leaderboard

# Every recipe with its defaults on every single-label dataset of ../shared/datasets, beside
# tfidf-logreg (benchmarks/suite.py; the table in benchmarks/README.md, JSON in results/suite.json).
# Hours on 2 cores at full size, so rows are capped (SUITE_CAPS, stratified with seed 0), every run
# has one torch thread, encoder-finetune and attention-rnn have a training-time cap, and `before`
# rows train the scratch recipes with their values before data-aware defaults. All in the table.
SUITE_CAPS ?= --max-train 2000 --max-test 1000
SUITE      := cd benchmarks && OMP_NUM_THREADS=1 ../$(BIN)/python suite.py $(SUITE_CAPS)
suite: install
	$(SUITE) --recipes seed-transformer,attention-rnn --variant fixed
	$(SUITE) --recipes tfidf-logreg,encoder-frozen,seed-transformer,attention-rnn,hf-frozen-base \
		--time-cap attention-rnn=600
	$(SUITE) --recipes encoder-frozen --variant fixed --datasets newsgroups20
	$(SUITE) --recipes encoder-finetune --time-cap encoder-finetune=240

clean:
	rm -rf runs build *.egg-info src/*.egg-info .pytest_cache
