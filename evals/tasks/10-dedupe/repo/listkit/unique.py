def dedupe(items: list[int]) -> list[int]:
    """`items` without repeats."""
    return sorted(set(items))
