import pytest

from plugins.plugin_utils.postgresql import tuned_settings


def test_the_documented_production_node_gets_the_documented_values():
    # seed 001: AMD EPYC 7763 (64 cores), 512 GB
    settings = tuned_settings(512 * 1024, 64, 1000)
    assert settings["shared_buffers"] == "128GB"
    assert settings["effective_cache_size"] == "384GB"
    assert settings["maintenance_work_mem"] == "2GB"
    assert settings["max_worker_processes"] == 64
    assert settings["max_parallel_workers"] == 64
    assert settings["max_parallel_workers_per_gather"] == 32
    assert settings["max_parallel_maintenance_workers"] == 8
    # (512 - 128) GB over 1000 connections x 3 sort nodes
    assert settings["work_mem"] == "134217kB"


def test_a_small_host_gets_small_values_and_postgresql_floors():
    settings = tuned_settings(2000, 2, 100)
    assert settings["shared_buffers"] == "500MB"
    assert settings["effective_cache_size"] == "1500MB"
    assert settings["maintenance_work_mem"] == "125MB"
    assert settings["max_worker_processes"] == 8  # PostgreSQL's default is the floor
    assert settings["max_parallel_workers_per_gather"] == 1
    assert settings["max_parallel_maintenance_workers"] == 1
    assert settings["work_mem"] == "5120kB"


def test_work_mem_never_drops_below_the_default():
    assert tuned_settings(1024, 4, 5000)["work_mem"] == "4096kB"


def test_whole_gigabytes_on_big_hosts():
    # 128 GB reported as 128798 MB (firmware reserves some): whole gigabytes
    settings = tuned_settings(128798, 8)
    assert settings["shared_buffers"] == "31GB"
    assert settings["effective_cache_size"] == "94GB"
    # small values stay exact
    assert tuned_settings(15998, 8)["shared_buffers"] == "3999MB"


@pytest.mark.parametrize(("memory", "cpus", "connections"), [(100, 2, 100), (4096, 0, 100), (4096, 2, 0)])
def test_impossible_hosts_are_refused(memory, cpus, connections):
    with pytest.raises(ValueError, match="cannot size PostgreSQL"):
        tuned_settings(memory, cpus, connections)
