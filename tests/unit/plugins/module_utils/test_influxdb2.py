import pytest

from plugins.module_utils.influxdb2 import buckets_from, converge, flux_downsample, seconds, tokens_from
from tests.unit.plugins.module_utils.fake_influxdb2 import FakeInflux2

DATABASES = [{
    "name": "markets",
    "retention_policies": [{"name": "market_data", "duration": "90d", "shard_duration": "1d", "default": True},
                           {"name": "market_data_1h", "duration": "INF", "shard_duration": "30d"}],
    "continuous_queries": [{"name": "market_data_1h", "source": "market_data", "target": "market_data_1h",
                            "every": "1h"}],
}]
USERS = [{"name": "market_feed", "password": "x", "grants": [{"database": "markets", "privilege": "WRITE"}]}]


def test_durations_and_buckets_follow_the_1x_names():
    assert seconds("90d") == 7776000 and seconds("1h30m") == 5400 and seconds("INF") == 0
    with pytest.raises(ValueError, match="not a duration"):
        seconds("90 days")
    assert buckets_from(DATABASES) == [
        {"name": "markets/market_data", "retention_seconds": 7776000, "shard_group_seconds": 86400},
        {"name": "markets/market_data_1h", "retention_seconds": 0, "shard_group_seconds": 2592000}]


def test_a_continuous_query_becomes_a_flux_downsampling_task():
    flux = flux_downsample("markets", DATABASES[0]["continuous_queries"][0] | {"measurement": "trades"}, "bizra")
    assert 'option task = {name: "market_data_1h", every: 1h}' in flux
    assert 'from(bucket: "markets/market_data")' in flux
    assert 'r._measurement == "trades"' in flux
    assert "aggregateWindow(every: 1h, fn: mean, createEmpty: false)" in flux
    assert 'to(bucket: "markets/market_data_1h", org: "bizra")' in flux


def test_grants_become_token_permissions_on_every_bucket_of_the_database():
    assert tokens_from(USERS, DATABASES) == [{"user": "market_feed", "permissions": [
        ("write", "markets/market_data"), ("write", "markets/market_data_1h")]}]


def test_first_run_creates_everything_second_run_changes_nothing():
    api = FakeInflux2()
    first = converge(api.request, "bizra", DATABASES, USERS)
    assert first["changed"]
    assert first["changes"] == ["create org bizra", "create bucket markets/market_data",
                                "create bucket markets/market_data_1h", "create task market_data_1h",
                                "create token of market_feed"]
    assert list(first["tokens"]) == ["market_feed"]
    (bucket,) = [b for b in api.buckets.values() if b["name"] == "markets/market_data"]
    assert bucket["retentionRules"] == [{"type": "expire", "everySeconds": 7776000, "shardGroupDurationSeconds": 86400}]
    second = converge(api.request, "bizra", DATABASES, USERS)
    assert second == {"changed": False, "changes": [], "tokens": {}}
    assert all(method == "GET" for method, _ in api.calls[-4:])


def test_changed_retention_task_and_grants_are_updated_and_check_mode_only_reports():
    api = FakeInflux2()
    converge(api.request, "bizra", DATABASES, USERS)
    changed = [dict(DATABASES[0], retention_policies=[
        {"name": "market_data", "duration": "30d", "shard_duration": "1d"},
        {"name": "market_data_1h", "duration": "INF", "shard_duration": "30d"}],
        continuous_queries=[DATABASES[0]["continuous_queries"][0] | {"aggregate": "max"}])]
    users = [dict(USERS[0], grants=[{"database": "markets", "privilege": "ALL"}])]
    before = len(api.calls)
    preview = converge(api.request, "bizra", changed, users, check_mode=True)
    assert preview["changes"] == ["set retention of bucket markets/market_data", "update task market_data_1h",
                                  "replace token of market_feed", "create token of market_feed"]
    assert all(method == "GET" for method, _ in api.calls[before:])
    applied = converge(api.request, "bizra", changed, users)
    assert applied["changes"] == preview["changes"]
    assert "fn: max" in next(iter(api.tasks.values()))["flux"]
    assert len(api.auths) == 1 and applied["tokens"]["market_feed"].startswith("token-")
    assert converge(api.request, "bizra", changed, users)["changed"] is False
