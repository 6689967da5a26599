import re


def slugify(text: str) -> str:
    """A URL slug: lowercase letters and digits, words joined by single hyphens."""
    return re.sub(r"[^a-z0-9]", "-", text.lower()).replace("--", "-").strip("-")
