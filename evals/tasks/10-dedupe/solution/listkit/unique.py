def dedupe(items: list[int]) -> list[int]:
    """`items` without repeats."""
    return list(dict.fromkeys(items))
