from plugins.module_utils.influxdb1 import cq_errors, cq_statement, influxql_string, plan

CQ_1M = {"name": "market_data_1m", "source": "market_data", "target": "market_data_1m", "every": "1m"}


def test_a_downsampling_statement_keeps_every_measurement_and_tag():
    assert cq_statement("markets", CQ_1M) == (
        'CREATE CONTINUOUS QUERY "market_data_1m" ON "markets" BEGIN SELECT mean(*) INTO '
        '"markets"."market_data_1m".:MEASUREMENT FROM "markets"."market_data"./.*/ GROUP BY time(1m), * END')


def test_one_measurement_custom_aggregates_and_resampling():
    cq = {"name": "ohlc_1h", "source": "market_data", "target": "market_data_1h", "every": "1h",
          "measurement": "trades", "select": "first(price) AS open, max(price) AS high, min(price) AS low, "
                                            "last(price) AS close, sum(size) AS volume",
          "resample_every": "30m", "resample_for": "2h"}
    assert cq_statement("markets", cq) == (
        'CREATE CONTINUOUS QUERY "ohlc_1h" ON "markets" RESAMPLE EVERY 30m FOR 2h BEGIN SELECT first(price) AS open, '
        'max(price) AS high, min(price) AS low, last(price) AS close, sum(size) AS volume INTO '
        '"markets"."market_data_1h"."trades" FROM "markets"."market_data"."trades" GROUP BY time(1h), * END')


def test_bad_queries_are_named():
    errors = cq_errors({"name": "x y", "source": "a", "target": "b", "every": "soon", "into": "c"})
    assert "continuous query 'x y': name 'x y' must be a name" in errors[0]
    assert any("every 'soon' is not an InfluxQL duration" in e for e in errors)
    assert any("unknown keys ['into']" in e for e in errors)
    assert any("every (the GROUP BY time interval) is required" in e for e in cq_errors({"name": "a", "source": "a",
                                                                                          "target": "b"}))


def test_first_run_creates_and_purges_what_is_not_declared():
    actions = plan("markets", [CQ_1M], {"manual": "CREATE CONTINUOUS QUERY manual ON markets ..."}, {})
    assert actions["drop"] == ["manual"]
    assert list(actions["create"]) == ["market_data_1m"]
    assert plan("markets", [CQ_1M], {"manual": "..."}, {}, purge=False)["drop"] == []


def test_second_run_keeps_what_it_created_and_the_server_still_runs():
    statement = cq_statement("markets", CQ_1M)
    server_text = "CREATE CONTINUOUS QUERY market_data_1m ON markets BEGIN SELECT mean(*) ... END"
    recorded = {"market_data_1m": {"statement": statement, "server": server_text}}
    assert plan("markets", [CQ_1M], {"market_data_1m": server_text}, recorded) == {
        "drop": [], "create": {}, "keep": ["market_data_1m"]}


def test_a_changed_declaration_a_hand_edit_or_an_unknown_origin_recreates():
    statement = cq_statement("markets", CQ_1M)
    server_text = "CREATE CONTINUOUS QUERY market_data_1m ON markets BEGIN SELECT mean(*) ... END"
    recorded = {"market_data_1m": {"statement": statement, "server": server_text}}
    changed = plan("markets", [CQ_1M | {"every": "5m"}], {"market_data_1m": server_text}, recorded)
    assert changed["drop"] == ["market_data_1m"] and "time(5m)" in changed["create"]["market_data_1m"]
    edited = plan("markets", [CQ_1M], {"market_data_1m": server_text.replace("mean", "max")}, recorded)
    assert edited["drop"] == ["market_data_1m"] and edited["create"]
    unknown = plan("markets", [CQ_1M], {"market_data_1m": server_text}, {})
    assert unknown["drop"] == ["market_data_1m"] and unknown["create"]
    missing = plan("markets", [CQ_1M], {}, recorded)
    assert missing["drop"] == [] and missing["create"]


def test_passwords_become_safe_influxql_literals():
    assert influxql_string("plain") == "'plain'"
    assert influxql_string("it's\\here") == "'it\\'s\\\\here'"
