from calendarkit.leap import is_leap_year


def test_centuries():
    assert is_leap_year(2000)
    assert not is_leap_year(1900)
    assert not is_leap_year(2100)


def test_ordinary_years():
    assert is_leap_year(2024)
    assert not is_leap_year(2023)
