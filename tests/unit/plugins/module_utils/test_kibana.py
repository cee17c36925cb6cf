"""kibana_data_views' logic against the labelled stand-in of Kibana's data views API."""

from __future__ import annotations

import pytest

from plugins.module_utils import kibana
from tests.unit.plugins.module_utils.fake_kibana import FakeKibana

SEED = [{"title": "trading-*"}, {"title": "system-*"}, {"title": "security-*"}]


def client(fake: FakeKibana):
    return lambda method, path, body: fake(method, path, body, {"kbn-xsrf": "true"})


def test_the_three_data_views_are_made_once_then_nothing_changes():
    fake = FakeKibana()
    first = kibana.converge(client(fake), SEED)
    assert first["changes"] == ["create data view trading-*", "create data view system-*",
                                "create data view security-*"]
    assert sorted((v["title"], v["timeFieldName"]) for v in fake.views.values()) == [
        ("security-*", "@timestamp"), ("system-*", "@timestamp"), ("trading-*", "@timestamp")]
    writes = fake.writes
    again = kibana.converge(client(fake), SEED)
    assert (again["changed"], again["changes"], fake.writes) == (False, [], writes)


def test_check_mode_reports_and_writes_nothing():
    fake = FakeKibana()
    result = kibana.converge(client(fake), SEED, check_mode=True)
    assert result["changed"] and len(result["changes"]) == 3
    assert fake.views == {}


def test_a_changed_time_field_is_updated_with_a_diff():
    fake = FakeKibana()
    kibana.converge(client(fake), SEED)
    result = kibana.converge(client(fake), [{"title": "trading-*", "name": "Trading", "time_field": "event.created"}])
    assert result["changes"] == ["update data view trading-*"]
    assert result["diff"]["before"]["trading-*"] == {"title": "trading-*", "name": "trading-*",
                                                      "timeFieldName": "@timestamp"}
    stored = next(v for v in fake.views.values() if v["title"] == "trading-*")
    assert (stored["name"], stored["timeFieldName"]) == ("Trading", "event.created")


def test_an_api_error_names_the_request_and_kibanas_message():
    fake = FakeKibana()
    with pytest.raises(kibana.ApiError,
                       match="POST /api/data_views/data_view: HTTP 400: Request must contain a kbn-xsrf"):
        kibana.converge(lambda method, path, body: fake(method, path, body, {}), SEED)


def test_bad_input_names_the_view():
    assert kibana.input_errors([{"title": "trading-*"}, {"title": "trading-*"}, {"title": ""}]) == [
        "data view #3: title is empty", "data view title trading-* is declared twice"]
