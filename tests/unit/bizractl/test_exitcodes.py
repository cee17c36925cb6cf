import pytest

from bizractl.exitcodes import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TASK_FAILED,
    EXIT_UNREACHABLE,
    map_exit_code,
)


@pytest.mark.parametrize(
    ("status", "rc", "failed", "unreachable", "expected"),
    [
        ("successful", 0, 0, 0, EXIT_OK),
        ("failed", 2, 1, 0, EXIT_TASK_FAILED),
        ("failed", 2, 1, 2, EXIT_TASK_FAILED),  # failures need a human first
        ("failed", 4, 0, 3, EXIT_UNREACHABLE),
        ("failed", 4, 0, 0, EXIT_BAD_INPUT),  # parser error before any host
        ("failed", 5, 0, 0, EXIT_BAD_INPUT),
        ("failed", 1, 0, 0, EXIT_ERROR),
        ("failed", 250, 0, 0, EXIT_ERROR),
        ("canceled", None, 0, 0, EXIT_INTERRUPTED),
        ("failed", 99, 0, 0, EXIT_INTERRUPTED),
        ("timeout", None, 0, 0, EXIT_ERROR),
    ],
)
def test_exit_code_mapping(status, rc, failed, unreachable, expected):
    assert map_exit_code(status, rc, failed, unreachable) == expected


def test_codes_are_distinct():
    codes = [EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_TASK_FAILED, EXIT_UNREACHABLE, EXIT_INTERRUPTED]
    assert len(set(codes)) == len(codes)
