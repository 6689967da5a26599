def is_leap_year(year: int) -> bool:
    """Whether `year` has a 29th of February (Gregorian calendar)."""
    return year % 4 == 0 or year % 400 == 0
