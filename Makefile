# Two entry points: `make demo` and `make test`. Each builds .venv/ first (once).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.posekit-setup

.PHONY: setup demo test fuzz bench sample-data clean-demo

$(STAMP): scripts/setup_env.sh requirements.txt pyproject.toml
	bash scripts/setup_env.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m pytest -q

# longer random exploration of the property tests (random seeds; not part of `make test`)
fuzz: $(STAMP)
	POSEKIT_HYPOTHESIS_PROFILE=fuzz POSEKIT_FUZZ_EXAMPLES=2000 $(PY) -m pytest -q \
	  tests/test_fidelity.py tests/test_fuzz.py tests/test_labelme.py tests/test_cvat.py \
	  tests/test_labelstudio.py tests/test_openpose.py tests/test_yolo.py tests/test_matv5.py \
	  tests/test_targets.py tests/test_prelabel.py tests/test_ops_compare.py tests/test_ops_filter.py \
	  tests/test_ops_merge.py tests/test_ops_split.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

sample-data: $(STAMP)
	$(PY) sample_data/make_sample_data.py

clean-demo:
	rm -rf out/demo
