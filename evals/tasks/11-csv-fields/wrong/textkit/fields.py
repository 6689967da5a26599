def split_fields(line: str) -> list[str]:
    """The comma-separated fields of one CSV line."""
    fields, current, quoted = [], "", False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current]
