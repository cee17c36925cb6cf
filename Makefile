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
APT_PACKAGES := podman runc debootstrap uidmap slirp4netns fuse-overlayfs openssh-client iproute2 nmap qemu-system-x86 qemu-utils fdisk e2fsprogs gnupg maven openjdk-17-jdk-headless
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

# The README's test command: two lanes side by side.
# - the VM lane, pinned to CPU 0: the VM scenarios (software emulation: CPU-bound, the longest),
#   then container scenarios from the queue. The emulated guest gets a core of its own (its boots
#   stalled for minutes when it shared one). Until 2026-12-07 Mitogen's CPU affinity undid the pin
#   for everything Ansible started (the guest included: CPU 0 sat 90 % idle while both lanes
#   shared CPU 1), which was taken for the kernel packing work onto one vCPU; the strategy plugin
#   now leaves placement alone;
# - the main lane, not pinned: lint, unit, e2e, then container scenarios from the queue. Pinned to
#   the other core it lost CPU 0's idle time (while the guest waits on its disks): lint took 154 s
#   instead of 67, unit 176 instead of 71.
# The queue holds the container scenarios longest first (QUEUE_ORDER, then any new one), so the
# lane that frees up first takes the longest left. Each scenario runs on its own lab network; its
# output goes to .cache/molecule-<scenario>.log, shown at the end when it failed, followed by a
# table of each stage's wall time (.cache/stages.tsv), so a stage that grows is seen.
QUEUE_ORDER := postgresql logging geth hsm nftables frr_bgp monitoring base
QUEUE       := $(filter $(CONTAINER_SCENARIOS),$(QUEUE_ORDER)) $(filter-out $(QUEUE_ORDER),$(CONTAINER_SCENARIOS))
test: setup  ## All tests: the README's test command
	mkdir -p .cache
	: > .cache/stages.tsv
	rm -f .cache/molecule-*.rc
	printf '%s\n' $(QUEUE) > .cache/scenario-queue
	stage() {  # stage NAME COMMAND...: run it, record its seconds and result
	  local name=$$1 started=$$(date +%s) rc=0
	  shift
	  "$$@" || rc=$$?
	  printf '%s\t%s\t%s\n' "$$name" "$$(( $$(date +%s) - started ))" "$$([ $$rc = 0 ] && echo passed || echo FAILED)" >> .cache/stages.tsv
	  return $$rc
	}
	scenario() {  # scenario LANE NAME: one molecule scenario, logged, its exit code kept
	  local rc=0
	  # Wide lines: molecule wraps its output at COLUMNS, which splits the lines the summary greps.
	  stage "molecule $$2 ($$1)" env COLUMNS=200 $(BIN)/molecule test -s $$2 > .cache/molecule-$$2.log 2>&1 || rc=$$?
	  echo $$rc > .cache/molecule-$$2.rc
	}
	from_queue() {  # from_queue LANE: scenarios off the shared queue until it is empty
	  local next
	  while next=$$(flock .cache/scenario-queue.lock sh -c 'head -n 1 .cache/scenario-queue; sed -i 1d .cache/scenario-queue') \
	        && [ -n "$$next" ]; do
	    scenario "$$1" "$$next"
	  done
	}
	pin() {  # pin CPUS: this shell and what it starts run on CPUS (when the machine has two cores or more)
	  if [ "$$(nproc)" -ge 2 ]; then taskset -p -c "$$1" $$BASHPID > /dev/null; fi
	}
	( pin 0
	  for vm in $(VM_SCENARIOS); do scenario "VM lane, CPU 0" $$vm; done
	  from_queue "VM lane, CPU 0" ) &
	status=0
	( failed=0
	  stage lint $(MAKE) --no-print-directory lint 2>&1 | tee .cache/lint.log || failed=1
	  stage unit $(MAKE) --no-print-directory unit 2>&1 | tee .cache/unit.log || failed=1
	  stage e2e $(BIN)/pytest -q --durations=12 tests/e2e 2>&1 | tee .cache/e2e.log || failed=1
	  from_queue "main lane"
	  exit $$failed ) || status=1
	wait
	for scenario in $(VM_SCENARIOS) $(QUEUE); do
	  rc=$$(cat .cache/molecule-$$scenario.rc 2>/dev/null || echo "not run")
	  if [ "$$rc" = 0 ]; then
	    echo "=== molecule $$scenario: passed, log in .cache/molecule-$$scenario.log"
	    # pytest's summary line (molecule prefixes it with a box border); none is not an error
	    { grep -a -E '=+ .*passed.* in [0-9.]+s' .cache/molecule-$$scenario.log || true; } | tail -n 1
	    continue
	  fi
	  status=1
	  echo "=== molecule $$scenario: FAILED ($$rc)"
	  [ -f .cache/molecule-$$scenario.log ] && tail -n 150 .cache/molecule-$$scenario.log
	  case " $(VM_SCENARIOS) " in *" $$scenario "*)
	    # What the guests printed last (bizractl lab down keeps each VM's console log).
	    for console in "$$($(BIN)/python -c 'from bizractl.paths import lab_home; print(lab_home())')"/vms/*.console.log; do
	      [ -f "$$console" ] || continue
	      echo "--- $$console, written $$(date -r "$$console" +%H:%M:%S) (last 60 lines)"
	      tail -n 60 "$$console"
	    done ;;
	  esac
	done
	echo "=== stages (wall time; the two lanes run side by side) ==="
	awk -F'\t' '{ printf "  %-52s %5d s  %6.1f min  %s\n", $$1, $$2, $$2 / 60, $$3 }' .cache/stages.tsv
	# Last, where a CI page that shows only the end of the output still has it: why each failed
	# stage failed, in a few lines (the full logs are above and in .cache/).
	awk -F'\t' '$$3 == "FAILED" { print $$1 }' .cache/stages.tsv | while read -r failed_stage; do
	  name=$${failed_stage%% (*}; log=.cache/$${name// /-}.log
	  echo "=== why $$failed_stage failed ($$log):"
	  sed 's/\x1b\[[0-9;]*m//g' "$$log" 2>/dev/null \
	    | grep -a -E 'fatal: |FAILED |ERROR |failed=[1-9]|unreachable=[1-9]|Error:|AssertionError|Executed: Failed' \
	    | cut -c1-300 | tail -n 8 || true
	done
	[ $$status = 0 ]
	echo "all tests passed"

clean:  ## Remove the lab, the venv and local state
	-$(BIN)/bizractl lab down
	rm -rf $(VENV) .cache runs .ansible

bench: setup  ## Benchmarks against their baselines (needs the lab: make lab-up)
	$(BIN)/python bench/control_plane.py
	$(BIN)/python bench/site_noop.py
