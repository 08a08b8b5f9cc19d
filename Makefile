# WMMP terminal: set-up, tests, benchmarks and the demo.  Everything a fresh
# machine needs is installed from here (pinned: requirements.lock, package-lock.json).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP_VENV := $(VENV)/.installed
STAMP_NPM := node_modules/.installed

.PHONY: all setup tshark libcoap test bench bench-bridge bench-ota bench-andlink bench-app fuzz mem demo tour clean

all: test

$(STAMP_VENV): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -r requirements.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_NPM): package.json package-lock.json
	@command -v node >/dev/null || { echo "Node.js is required for the MicroPython tests (apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

# tshark (Debian's package) for the Wireshark dissector's tests (tools/wireshark/README.md):
# installed when missing and we are root; otherwise those tests are skipped, with the reason.
tshark:
	@command -v tshark >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark || { apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark; } || \
	    echo "tshark could not be installed: host_tests/test_wireshark.py will be skipped"; \
	  else echo "tshark is missing: run 'apt-get install tshark' as root (host_tests/test_wireshark.py needs it)"; fi; }

# libcoap's coap-client and coap-server (Debian's libcoap3-bin: coap-client-notls, coap-server-openssl,
# coap-server-gnutls, ...) and the openssl command, for the CoAP and DTLS interop tests
# (host_tests/test_andlink_coap_interop.py, host_tests/test_dtls_interop.py): installed when missing
# and we are root; otherwise those tests are skipped, with the reason.
libcoap:
	@{ command -v coap-server-gnutls >/dev/null && command -v openssl >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcoap3-bin openssl || { apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcoap3-bin openssl; } || \
	    echo "libcoap3-bin/openssl could not be installed: the libcoap and openssl interop tests will be skipped"; \
	  else echo "coap-server-gnutls or openssl is missing: run 'apt-get install libcoap3-bin openssl' as root (the interop tests need them)"; fi; }

setup: $(STAMP_VENV) $(STAMP_NPM) tshark libcoap

# The whole suite: CPython tests, the portable tests under MicroPython (the unix port with
# enforced heap budgets; the WebAssembly port for 32-bit resident sizes) and mpy-cross over
# every lib/ file.
test: setup
	$(PY) -m pytest -q
	@$(PY) tools/report.py

bench: setup
	$(PY) bench/run.py

fuzz: setup
	$(PY) bench/fuzz.py --cases 200000

# The serial data bridge end to end on loopback: emulated meter -> data port ->
# engine -> SIM7600 driver -> paced SIM7600 emulator -> platform, and back
# (bench/bridge.py; a short run of every scenario:
# BRIDGE_ARGS="--seconds 10 --outage 10 --bc95-probe 10 --bc95-seconds 10").
bench-bridge: setup
	$(PY) bench/bridge.py $(BRIDGE_ARGS)

# The updater end to end (issue 14): a 256 KB update file through the shaped SIM7600
# emulator (300 ms RTT, 0 and 5 % loss, window 1 and 8), a link loss and a reboot
# mid-download, and the heap and CPU of a download on the real-GC MicroPython port
# (bench/ota.py, bench/mp_ota.py; build/bench-ota.json).
bench-ota: setup
	$(PY) bench/ota.py $(OTA_ARGS)

# The And-link client measured: the heap it adds registered on the real-GC MicroPython port
# (bench/mp_andlink.py), registration to first notification against the platform simulator on
# loopback, bytes on the air per day reporting every 15 min (fake clock), each plain and over
# DTLS (heap, handshake, overhead), then FOTA through the BC95 emulator (bench/andlink_bc95.py) when present (bench/andlink.py; build/bench-andlink.json).
bench-andlink: setup
	$(PY) bench/andlink.py $(ANDLINK_ARGS)

# Requests per second the application interface's gateway sustains on loopback, over
# the long connection and HTTP (bench/appif.py; docs/APP.md).
bench-app: setup
	$(PY) bench/appif.py $(APP_ARGS)

# RAM per module (32- and 64-bit), the demo session's peak heap and the largest
# allocation of one engine call on the real-GC MicroPython (tools/mem.py).
mem: setup
	$(PY) tools/mem.py

# Terminal + platform simulator + SMS centre, end to end on loopback (UDP;
# `make demo DEMO_ARGS=--tcp` for TCP).  `make demo MODEM=sim7600`: the same
# run with the terminal talking AT to the SIM7600 emulator over a pty.
demo: setup
	$(PY) tools/demo.py $(if $(MODEM),--modem $(MODEM)) $(DEMO_ARGS)

# The message layer alone: a registration and login encoded and read back.
tour: setup
	$(PY) tools/codec_tour.py

clean:
	rm -rf build .pytest_cache .hypothesis
