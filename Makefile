# AudioConcept: every target creates or reuses .venv and installs what it needs from this repo.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AC := $(BIN)/audioconcept
DATA := data/synth
CONCEPT_DATA := data/concepts
CK := models/checkpoints
CLIPS ?= 20
CNN_EPOCHS ?= 35
# pytest-xdist workers for `make test` (one file per worker at a time; the session's models are built once and shared)
TEST_WORKERS ?= 2
VGG_EPOCHS ?= 40
# a real recording for the demo: a shared GTZAN clip when ../shared is beside the checkout, else the test fixture
SHARED_CLIPS ?= ../shared/gtzan/clips
REAL_SONG ?= $(firstword $(wildcard ../shared/gtzan/clips/jazz/jazz.00005.flac) $(wildcard tests/fixtures/*.flac))
export AUDIOCONCEPT_CACHE ?= $(CURDIR)/data/.cache

.PHONY: help install demo reproduce test test-fast lint docs data concept-samples concept-audio concept-probes cnn-concept-validation train export concepts bench bundles real-bundle app clean web-deps site bench-browser

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[train,coreml,executorch,app,track,ray,render,dev,docs]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv with the runtime, train, coreml, executorch, app, track, ray, render, dev and docs extras

$(DATA)/ground_truth.json: | $(STAMP)
	$(AC) data synth --out $(DATA) --clips-per-genre $(CLIPS) --seconds 30 --seed 0

$(CONCEPT_DATA)/ground_truth.json: | $(STAMP)
	$(AC) data concepts --out $(CONCEPT_DATA) --clips-per-concept 32 --random-sets 20 --clips-per-random 16

data: $(DATA)/ground_truth.json $(CONCEPT_DATA)/ground_truth.json ## render the synthetic genre set and concept sets

CONCEPT_AUDIO ?= data/concept_renders
CONCEPT_PIECES ?= 600
SAMPLES_STAMP := tools/samples/node_modules/.package-lock.json
$(SAMPLES_STAMP): tools/samples/package.json tools/samples/package-lock.json
	@if command -v npm >/dev/null; then cd tools/samples && npm ci --no-audit --no-fund --ignore-scripts; \
	else echo "warning: no npm: the concept audio is rendered without its recorded notes (data.render.samples)" >&2; fi

concept-samples: $(SAMPLES_STAMP) ## recorded notes (npm tonejs-instrument-*-mp3, pinned) for --sampled renders (off)

concept-audio: | $(STAMP) ## real scores through soundfonts with exact concept truth (extra render; docs/concept-data.md)
	$(AC) data render-concepts --out $(CONCEPT_AUDIO) --pieces $(CONCEPT_PIECES) --seed 0 --workers 2 \
		--report reports/concept_data

$(CK)/svm/config.json: $(DATA)/ground_truth.json
	$(AC) train svm --data synth:$(DATA) --out $(CK)/svm

$(CK)/svm-gtzan/config.json: | $(STAMP)
	$(AC) train svm --data features-csv:../shared/gtzan/features_30_sec.csv --out $(CK)/svm-gtzan

$(CK)/cnn/config.json: $(DATA)/ground_truth.json
	$(AC) train cnn --data synth:$(DATA) --out $(CK)/cnn --epochs $(CNN_EPOCHS) --patience 0 --lr 3e-3 --batch-size 8 --no-augment

$(CK)/vggish/config.json: $(DATA)/ground_truth.json
	$(AC) train vggish --data synth:$(DATA) --out $(CK)/vggish --width 0.125 --epochs $(VGG_EPOCHS) --patience 0 --lr 1e-3 --batch-size 16 --no-augment

train: $(CK)/svm/config.json $(CK)/cnn/config.json $(CK)/vggish/config.json ## train svm, cnn and a slim vggish on the synthetic set

$(CK)/cnn/concepts/concepts.json: $(CK)/cnn/config.json $(CONCEPT_DATA)/ground_truth.json
	$(AC) concepts learn --model $(CK)/cnn --concepts $(CONCEPT_DATA) --out $(CK)/cnn/concepts --eval-data synth:$(DATA) \
		--layers layer2,layer3,layer4,layer5,dense1

concepts: $(CK)/cnn/concepts/concepts.json ## learn CAVs and TCAV scores for the CNN

export: train concepts ## export the three trained models to models/<name>
	$(AC) export $(CK)/svm --out models/svm
	$(AC) export $(CK)/cnn --out models/cnn
	$(AC) export $(CK)/vggish --out models/vggish

demo: $(STAMP) ## the main job in minutes: shipped models on a real song and the demo song, HTML report, quick bench
	@test -n "$(REAL_SONG)" || { echo "no real song found: set REAL_SONG=path/to/song"; exit 2; }
	$(BIN)/audioconcept-run $(REAL_SONG)
	$(BIN)/audioconcept-run $(REAL_SONG) --model svm-gtzan --explain --explain-dir reports/demo
	$(BIN)/python -m audioconcept.data.synth.demo_song --out data/demo_song.wav
	$(BIN)/audioconcept-run data/demo_song.wav --model cnn-synth --hop 5 \
		--explain-dir reports/demo --html reports/demo/demo_song.html
	@echo "HTML report: $(CURDIR)/reports/demo/demo_song.html"
	$(AC) bench --models cnn-synth --models svm-gtzan --quick --out reports/demo/bench.json
	$(AC) bench report reports/demo/bench.json --out reports/demo/BENCH.md

reproduce: export ## train everything from scratch with fixed epoch counts, learn concepts, export, validate, bench
	$(AC) evaluate $(CK)/svm --data synth:$(DATA)
	$(AC) evaluate $(CK)/cnn --data synth:$(DATA)
	$(AC) evaluate $(CK)/vggish --data synth:$(DATA)
	$(BIN)/audioconcept-run $(DATA)/genres/metal/metal.00001.wav --model models/cnn --backend onnx
	$(BIN)/python -m audioconcept.data.synth.demo_song --out data/demo_song.wav
	$(BIN)/audioconcept-run data/demo_song.wav --model models/cnn --backend onnx --hop 5 \
		--explain-dir reports/reproduce --attribution ig --html reports/reproduce/demo_song.html
	$(AC) explain data/demo_song.wav --model models/vggish --method gxi --out reports/reproduce
	$(AC) concepts validate models/cnn --data synth:$(DATA) --out reports/reproduce/concepts --attribution ig
	$(AC) bench --models models/cnn --models models/svm --quick --out reports/reproduce/bench.json
	$(AC) bench report reports/reproduce/bench.json --out reports/reproduce/BENCH.md

# onnxruntime-web for the page, pinned by web/package-lock.json (the site copies its WASM files; never fetched at run time)
WEB_STAMP := web/node_modules/onnxruntime-web/package.json
$(WEB_STAMP): web/package.json web/package-lock.json
	@if command -v npm >/dev/null; then cd web && npm ci --no-audit --no-fund --ignore-scripts; \
	else echo "warning: no npm (apt-get install npm): audioconcept web cannot write a site; the browser tests skip" >&2; fi

web-deps: $(WEB_STAMP) ## npm ci in web/: onnxruntime-web, pinned, for `audioconcept web`

site: $(STAMP) web-deps ## write the in-browser site to ./site (serve: audioconcept web --serve)
	$(AC) web --out site

bench-browser: $(STAMP) web-deps ## the page against audioconcept-run, threads on and off; screenshot into docs/
	$(AC) bench browser --out reports/browser --screenshot docs/browser.png

test: $(STAMP) web-deps ## run the test suite, then build the docs site strictly (what CI runs)
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --durations=25  # the slowest 25: CI must stay under 20 minutes
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir "$$(mktemp -d)"

test-fast: $(STAMP) web-deps ## the tests without the slow ones
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: $(STAMP) ## ruff
	$(BIN)/ruff check audioconcept tests

docs: $(STAMP) ## the docs site into site/ (generated tables first; strict: a broken link or include fails)
	$(AC) docs tables
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "docs: $(CURDIR)/site/index.html"

bench: export ## full benchmark on this host
	$(AC) bench --models models/cnn --models models/vggish --models models/svm --out benchmarks/results/$$(hostname)-$$(date +%Y%m%d).json
	$(AC) bench report benchmarks/results/*.json --out benchmarks/REPORT.md
	$(AC) docs tables

$(CK)/pretrained/MSD_MTT_musicnn/config.json: | $(STAMP)
	$(AC) import-pretrained musicnn --out $(CK)/pretrained

$(CK)/musicnn-gtzan/config.json: $(CK)/pretrained/MSD_MTT_musicnn/config.json
	@test -d $(SHARED_CLIPS) || { echo "$(SHARED_CLIPS) is missing: the real-music head trains on it"; exit 2; }
	$(AC) train probe --backbone $(CK)/pretrained/MSD_MTT_musicnn --data folder:$(SHARED_CLIPS) \
		--out $(CK)/musicnn-gtzan

CONCEPT_PATCH := models/concept_probes/musicnn-gtzan.json

concept-probes: | $(STAMP) ## probes on musicnn-gtzan's embedding, validated on held-out renders and ../shared/instruments
	@test -f $(CONCEPT_AUDIO)/windows.csv || { echo "$(CONCEPT_AUDIO) has no concept audio: make concept-audio first"; exit 2; }
	$(AC) concepts validate-probes --renders $(CONCEPT_AUDIO) --patch $(CONCEPT_PATCH) --out reports/real_music

CNN_CONCEPT_PATCH := models/concept_probes/cnn-synth.json

cnn-concept-validation: | $(STAMP) ## cnn-synth's CAV concepts against the concept audio and ../shared/instruments, into its packaged manifest
	@test -f $(CONCEPT_AUDIO)/windows.csv || { echo "$(CONCEPT_AUDIO) has no concept audio: make concept-audio first"; exit 2; }
	$(AC) concepts validate-cavs --renders $(CONCEPT_AUDIO) --patch $(CNN_CONCEPT_PATCH) --out reports/real_music
	$(BIN)/python -m audioconcept.export.package_bundles --patch-only --cnn-concept-patch $(CNN_CONCEPT_PATCH)

real-bundle: $(CK)/musicnn-gtzan/config.json ## rebuild the packaged real-music default (musicnn-gtzan), validated concepts included
	@test -f $(CONCEPT_PATCH) || $(MAKE) concept-probes
	$(BIN)/python -m audioconcept.export.package_bundles --musicnn-gtzan $(CK)/musicnn-gtzan --concept-patch $(CONCEPT_PATCH)

bundles: $(CK)/cnn/config.json $(CK)/svm-gtzan/config.json $(CK)/musicnn-gtzan/config.json ## rebuild the small bundles shipped inside the package
	@test -f $(CONCEPT_PATCH) || $(MAKE) concept-probes
	$(BIN)/python -m audioconcept.export.package_bundles --cnn $(CK)/cnn --svm-gtzan $(CK)/svm-gtzan \
		--musicnn-gtzan $(CK)/musicnn-gtzan --concept-patch $(CONCEPT_PATCH)
	$(MAKE) cnn-concept-validation  # the new CNN's concepts, checked and written into its manifest

# songs the app offers besides its packaged example (the demo song): the shared GTZAN clips and the synthetic
# set, those that exist, so the app starts right after `make demo`, with or without ../shared
APP_FOLDERS ?= $(wildcard $(SHARED_CLIPS) $(DATA)/genres)

app: $(STAMP) ## serve the web app on http://127.0.0.1:8765 (PORT=...) with the packaged and shared songs
	$(AC) app --port $${PORT:-8765} $(foreach f,$(APP_FOLDERS),--folder $(f))

clean: ## remove generated data, models and demo reports (keeps .venv)
	rm -rf data models reports/demo reports/reproduce
