def flatten(items: list[object]) -> list[object]:
    """The non-list values of `items` and of the lists nested in it, in order."""
    out: list[object] = []
    for item in items:
        if isinstance(item, list):
            for inner in item:
                if isinstance(inner, list):
                    out.extend(inner)
                else:
                    out.append(inner)
        else:
            out.append(item)
    return out
