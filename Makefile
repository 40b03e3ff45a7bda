# Two entry points: `make demo` and `make test`. Each builds .venv/ first (once).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.posekit-setup

.PHONY: setup demo test bench sample-data clean-demo

$(STAMP): scripts/setup_env.sh requirements.txt pyproject.toml
	bash scripts/setup_env.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

sample-data: $(STAMP)
	$(PY) sample_data/make_sample_data.py

clean-demo:
	rm -rf out/demo
