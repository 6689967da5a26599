def flatten(items: list[object]) -> list[object]:
    """The non-list values of `items` and of the lists nested in it, in order."""
    out: list[object] = []
    for item in items:
        if isinstance(item, list):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
