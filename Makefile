# hanat — set-up and everyday targets. `make demo` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-tools demo test test-stale test-long test-unit lint clean bench bench-dataplane

install: $(STAMP) system-tools

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[lab,dev]'
	touch $(STAMP)

# The lab's data plane needs iproute2, nftables and ping (iptables: the NAT script's fallback when an
# image has no nft; shellcheck: the shipped shell files; iperf3: bench/dataplane.py's throughput through
# a NAT namespace, and its test); install them with apt when missing and root.
system-tools:
	@missing=""; \
	command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing="$$missing iproute2"; \
	command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing="$$missing nftables"; \
	command -v ping >/dev/null 2>&1 || [ -x /usr/bin/ping ] || missing="$$missing iputils-ping"; \
	command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing="$$missing iptables"; \
	command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	command -v iperf3 >/dev/null 2>&1 || missing="$$missing iperf3"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing with apt:$$missing" >&2; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "note: missing$$missing (not root or no apt): the netns lab tests will be skipped" >&2; \
	fi

demo: install
	$(BIN)/python -m lab.demo

# Every tier runs in one pytest-xdist run on TEST_WORKERS workers, one test file per worker at a time
# (--dist loadfile): a drill file's lab session (emulator, namespaces, clients) stays on its worker, and
# its drills run one at a time as their timings assume. The files run longest first (tests/conftest.py
# SESSIONS_FIRST; --no-loadscope-reorder keeps that order): the lab's drill files start at once and the moto
# and unit files fill the workers around them. Four workers share the 2 cores: drills and moto tests often wait on
# the clock (3 workers: 669 s in CI7, 4: 562 s in CI8, a fresh clone each).
TEST_WORKERS ?= 4

test: install
	$(BIN)/pytest -q -p no:cacheprovider --durations=30 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		-m "not long_drill" tests

# The moto tier with EC2's eventual consistency on (tests/integration/conftest.py): ~1.7x the wall time, not in `make test`.
test-stale: install
	HANAT_STALE_READS_S=0.5 $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) tests/integration

test-long: install
	$(BIN)/pytest -q -p no:cacheprovider -m long_drill tests

test-unit: install
	$(BIN)/pytest -q tests/unit

SHELL_FILES := bootstrap/nat/setup-nat.sh bootstrap/nat/admin-setup.sh bootstrap/nat/hanat-nat-agent bootstrap/nat/hanat-nat-counters

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m bootstrap.deploy.policy_lint
	shellcheck --shell=bash $(SHELL_FILES)

bench: install
	$(BIN)/python bench/bootstrap.py

# setup-nat.sh against bare nft masquerade and plain routing on one NAT namespace (root; about 2 min).
# BENCH_ARGS: --runs K --seconds S --workers N --json
bench-dataplane: install
	$(BIN)/python -m bench.dataplane $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
