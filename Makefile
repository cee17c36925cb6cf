# bizra-infra: `make deploy` sets everything up and converges the lab; `make test` runs all tests.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV        ?= .venv
PROMTOOL    := .cache/tools/promtool
PYTHON      ?= python3
BIN         := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Debian packages the lab and the tests need on the machine that runs them.
APT_PACKAGES := podman runc debootstrap uidmap slirp4netns fuse-overlayfs openssh-client iproute2 nmap qemu-system-x86 qemu-utils fdisk e2fsprogs gnupg
SCENARIOS   := $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))
# Scenarios with qemu guests (software emulation: CPU-bound, the longest) and the container ones.
VM_SCENARIOS        := $(sort $(foreach s,$(SCENARIOS),$(if $(shell grep -l 'lab_kind: vm' molecule/$(s)/inventory/hosts.yml 2>/dev/null),$(s))))
CONTAINER_SCENARIOS := $(filter-out $(VM_SCENARIOS),$(SCENARIOS))

.PHONY: help setup apt-packages venv deploy lab-up lab-down lint unit e2e molecule test bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: apt-packages venv $(PROMTOOL)  ## Install apt packages, the Python environment and promtool (idempotent)
	$(BIN)/python -c 'from pathlib import Path; from bizractl.paths import ensure_collection_link; ensure_collection_link(Path.cwd())'

apt-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done)
	if [ -n "$$missing" ]; then
	  echo "installing: $$missing"
	  apt-get update -q
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing
	fi

# promtool for the alert rules' unit tests, from Debian's prometheus package: unpacked, not
# installed (installing it would start a Prometheus server on this machine).
$(PROMTOOL):
	mkdir -p .cache/tools/deb
	cd .cache/tools/deb
	apt-get download prometheus 2>/dev/null || { apt-get update -q && apt-get download prometheus; }
	dpkg-deb -x prometheus_*.deb root
	install -m 0755 root/usr/bin/promtool $(CURDIR)/$(PROMTOOL)
	rm -rf root prometheus_*.deb

# The venv is rebuilt only when pyproject.toml changes.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

deploy: setup  ## Converge the lab fleet with site.yml (creates the lab first)
	$(BIN)/bizractl lab up
	$(BIN)/bizractl deploy site.yml

lab-up: setup  ## Start the lab fleet
	$(BIN)/bizractl lab up

lab-down: setup  ## Remove the lab fleet
	$(BIN)/bizractl lab down

lint: setup  ## yamllint, ansible-lint (production profile), ruff
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/ruff check bizractl tests molecule bench

unit: setup  ## Unit tests of the control plane, the plugins and the alert rules (promtool)
	$(BIN)/pytest -q tests/unit

e2e: setup  ## bizractl end to end on the lab fleet
	$(BIN)/pytest -q tests/e2e

molecule: setup  ## Every Molecule scenario (create, converge, idempotence, verify, destroy)
	for scenario in $(SCENARIOS); do
	  $(BIN)/molecule test -s $$scenario
	done

# The README's test command. The VM scenarios run in the background beside lint, unit, e2e and
# the container scenarios (each scenario on its own lab network), so the slowest part does not
# add to the rest; their output goes to .cache/molecule-<scenario>.log and is shown at the end,
# followed by a table of each stage's wall time (.cache/stages.tsv), so a stage that grows is seen.
# One lane of container scenarios, not two: this machine's kernel packs unpinned work onto one
# vCPU (see below), so a second lane only shared that core, and a lab's hosts then once took
# longer than lab up's 90 s to answer SSH.
test: setup  ## All tests: the README's test command
	mkdir -p .cache
	: > .cache/stages.tsv
	rm -f .cache/molecule-*.rc
	stage() {  # stage NAME COMMAND...: run it, record its seconds and result
	  local name=$$1 started=$$(date +%s) rc=0
	  shift
	  "$$@" || rc=$$?
	  printf '%s\t%s\t%s\n' "$$name" "$$(( $$(date +%s) - started ))" "$$([ $$rc = 0 ] && echo passed || echo FAILED)" >> .cache/stages.tsv
	  return $$rc
	}
	lane() {  # lane NAME SCENARIO...: one scenario after another, each logged, its exit code kept
	  local name=$$1 scenario rc
	  shift
	  for scenario in "$$@"; do
	    rc=0
	    stage "molecule $$scenario ($$name)" $(BIN)/molecule test -s $$scenario > .cache/molecule-$$scenario.log 2>&1 || rc=$$?
	    echo $$rc > .cache/molecule-$$scenario.rc
	  done
	}
	status=0
	# The VM tier on CPU 0, the rest wherever the kernel puts it. This machine's kernel packs
	# runnable work onto one vCPU (sched_vcpu_pack): with every lane unpinned CPU 0 stayed about
	# 90 % idle while the emulated guest starved beside the other lanes on CPU 1 (its boots
	# stalled for minutes). Pinned work does run on CPU 0.
	( if [ "$$(nproc)" -ge 2 ]; then taskset -p -c 0 $$BASHPID > /dev/null; fi
	  lane "VM tier, background" $(VM_SCENARIOS) ) &
	stage lint $(MAKE) --no-print-directory lint || status=1
	stage unit $(MAKE) --no-print-directory unit || status=1
	stage e2e $(BIN)/pytest -q --durations=12 tests/e2e || status=1
	for scenario in $(CONTAINER_SCENARIOS); do
	  stage "molecule $$scenario" $(BIN)/molecule test -s $$scenario || status=1
	done
	wait
	for scenario in $(VM_SCENARIOS); do
	  if [ "$$(cat .cache/molecule-$$scenario.rc 2>/dev/null)" = 0 ]; then
	    echo "=== molecule $$scenario (ran in the background): passed, log in .cache/molecule-$$scenario.log"
	    # pytest's summary line (molecule prefixes it with a box border); none is not an error
	    { grep -a -E '=+ .*passed.* in [0-9.]+s' .cache/molecule-$$scenario.log || true; } | tail -n 1
	    continue
	  fi
	  status=1
	  echo "=== molecule $$scenario (ran in the background): FAILED"
	  tail -n 150 .cache/molecule-$$scenario.log
	  # What the guests printed last (bizractl lab down keeps each VM's console log).
	  for console in "$$($(BIN)/python -c 'from bizractl.paths import lab_home; print(lab_home())')"/vms/*.console.log; do
	    [ -f "$$console" ] || continue
	    echo "--- $$console, written $$(date -r "$$console" +%H:%M:%S) (last 60 lines)"
	    tail -n 60 "$$console"
	  done
	done
	echo "=== stages (wall time; the VM tier overlaps e2e and the container scenarios) ==="
	awk -F'\t' '{ printf "  %-52s %5d s  %6.1f min  %s\n", $$1, $$2, $$2 / 60, $$3 }' .cache/stages.tsv
	[ $$status = 0 ]
	echo "all tests passed"

clean:  ## Remove the lab, the venv and local state
	-$(BIN)/bizractl lab down
	rm -rf $(VENV) .cache runs .ansible

bench: setup  ## Benchmarks against their baselines (needs the lab: make lab-up)
	$(BIN)/python bench/control_plane.py
	$(BIN)/python bench/site_noop.py
