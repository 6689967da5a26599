def chunks(items: list[int], size: int) -> list[list[int]]:
    """`items` in consecutive lists of `size` items."""
    return [items[i:i + size] for i in range(0, len(items), size)]
