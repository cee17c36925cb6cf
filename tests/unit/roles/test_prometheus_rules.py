"""Every alert rule of the prometheus role's packs is unit-tested with `promtool test rules`:
each alert fires in at least one test case (series in, expected alerts out), and the suites pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "roles/prometheus/files/rules"
TESTS = ROOT / "tests/promtool"
PROMTOOL = ROOT / ".cache/tools/promtool"


def alerts_in(pack: Path) -> set[str]:
    groups = yaml.safe_load(pack.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def fired_in(test_file: Path) -> set[str]:
    suite = yaml.safe_load(test_file.read_text())
    return {case["alertname"] for test in suite["tests"] for case in test.get("alert_rule_test", [])
            if case.get("exp_alerts")}


@pytest.mark.parametrize("pack", sorted(RULES.glob("*.rules")), ids=lambda p: p.stem)
def test_every_alert_of_the_pack_fires_in_a_promtool_test(pack: Path):
    test_file = TESTS / f"{pack.stem}_test.yml"
    assert test_file.is_file(), f"{pack.name} has no promtool test ({test_file.relative_to(ROOT)})"
    untested = alerts_in(pack) - fired_in(test_file)
    assert not untested, f"alerts of {pack.name} that no test case expects to fire: {sorted(untested)}"


def test_promtool_passes_every_rule_test():
    assert PROMTOOL.is_file(), "promtool is missing: run `make setup`"
    suites = sorted(str(p) for p in TESTS.glob("*_test.yml"))
    proc = subprocess.run([str(PROMTOOL), "test", "rules", *suites], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(suites)
