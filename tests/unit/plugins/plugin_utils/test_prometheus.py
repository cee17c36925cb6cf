import pytest

from plugins.plugin_utils.prometheus import job_errors, rule_pack, scrape_configs

GROUPS = {"all": ["pg1", "pg2", "mon1"], "postgresql": ["pg2", "pg1"], "geth": []}
ADDRESSES = {"pg1": "10.0.0.31", "pg2": "10.0.0.32", "mon1": "fd00::71"}


def test_a_job_per_group_with_hosts_and_a_target_per_host_named_by_inventory():
    jobs = [{"name": "node", "group": "all", "port": 9100},
            {"name": "postgres", "group": "postgresql", "port": 9187},
            {"name": "geth", "group": "geth", "port": 6060, "path": "/debug/metrics/prometheus"},
            {"name": "es", "group": "logging", "port": 9114}]
    configs = scrape_configs(jobs, GROUPS, ADDRESSES)
    assert [c["job_name"] for c in configs] == ["node", "postgres"]  # no hosts: no job
    node = configs[0]
    assert node["metrics_path"] == "/metrics" and node["scheme"] == "http"
    assert node["static_configs"] == [
        {"targets": ["[fd00::71]:9100"], "labels": {"instance": "mon1"}},
        {"targets": ["10.0.0.31:9100"], "labels": {"instance": "pg1"}},
        {"targets": ["10.0.0.32:9100"], "labels": {"instance": "pg2"}},
    ]


def test_adding_a_host_to_a_group_adds_its_target():
    jobs = [{"name": "postgres", "group": "postgresql", "port": 9187}]
    before = scrape_configs(jobs, GROUPS, ADDRESSES)[0]["static_configs"]
    after = scrape_configs(jobs, {**GROUPS, "postgresql": ["pg1", "pg2", "pg3"]}, ADDRESSES)[0]["static_configs"]
    assert len(after) == len(before) + 1
    assert after[-1] == {"targets": ["pg3:9187"], "labels": {"instance": "pg3"}}  # no address: its name


def test_disabled_jobs_and_per_job_options():
    jobs = [{"name": "node", "group": "all", "port": 9100, "enabled": False},
            {"name": "pg", "group": "postgresql", "port": 9187, "interval": "30s", "timeout": "10s",
             "scheme": "https", "params": {"collect[]": ["x"]}}]
    (config,) = scrape_configs(jobs, GROUPS, ADDRESSES)
    assert config["scrape_interval"] == "30s" and config["scrape_timeout"] == "10s"
    assert config["scheme"] == "https" and config["params"] == {"collect[]": ["x"]}


@pytest.mark.parametrize(("job", "message"), [
    ({"name": "bad-name", "group": "all", "port": 1}, "name must match"),
    ({"name": "x", "port": 1}, "group (an inventory group) is required"),
    ({"name": "x", "group": "all", "port": 70000}, "port 70000 is not in 1..65535"),
    ({"name": "x", "group": "all", "port": "9100"}, "port '9100' is not in 1..65535"),
    ({"name": "x", "group": "all", "port": 1, "scheme": "ftp"}, "scheme 'ftp'"),
    ({"name": "x", "group": "all", "port": 1, "path": "metrics"}, "must start with /"),
    ({"name": "x", "group": "all", "port": 1, "interval": "fast"}, "interval 'fast' is not a Prometheus duration"),
    ({"name": "x", "group": "all", "port": 1, "target": "y"}, "unknown keys ['target']"),
])
def test_bad_jobs_are_named_with_the_problem(job, message):
    errors = job_errors([job])
    assert any(message in e for e in errors), errors
    with pytest.raises(ValueError, match=r"job|entry"):
        scrape_configs([job], GROUPS, ADDRESSES)


def test_a_job_defined_twice_is_an_error():
    assert job_errors([{"name": "a", "group": "all", "port": 1}] * 2) == ["job 'a': defined twice"]
    assert job_errors("node") == ["must be a list of jobs, got str"]


PACK = """
groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        for: 5m
      - record: job:up:sum
        expr: sum by (job) (up)
"""


def test_rule_pack_keeps_the_file_or_shortens_every_for():
    assert rule_pack(PACK)["groups"][0]["rules"][0]["for"] == "5m"
    short = rule_pack(PACK, "10s")
    assert short["groups"][0]["rules"][0]["for"] == "10s"
    assert "for" not in short["groups"][0]["rules"][1]
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        rule_pack(PACK, "soon")
