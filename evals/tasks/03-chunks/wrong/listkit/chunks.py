def chunks(items: list[int], size: int) -> list[list[int]]:
    """`items` in consecutive lists of `size` items."""
    full = [items[i:i + size] for i in range(0, len(items) - size + 1, size)]
    return [*full, items[len(full) * size:]]
