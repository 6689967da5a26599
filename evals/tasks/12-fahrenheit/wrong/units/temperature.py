def fahrenheit_to_celsius(degrees: float) -> float:
    """Degrees Fahrenheit in degrees Celsius."""
    return degrees * 5 / 9 - 32
