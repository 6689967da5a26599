def clamp(value: float, low: float, high: float) -> float:
    """`value` limited to the range low..high."""
    if value < low:
        return low
    if value > high:
        return low
    return value
