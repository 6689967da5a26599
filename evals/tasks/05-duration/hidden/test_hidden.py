import pytest
from timeparse.duration import parse_duration


def test_numbers_of_any_length():
    assert parse_duration("120s") == 120
    assert parse_duration("1h30m") == 5400
    assert parse_duration("100m5s") == 6005


def test_rejects_garbage():
    with pytest.raises(ValueError):
        parse_duration("5 minutes")
