from collections import Counter


def word_counts(text: str) -> dict[str, int]:
    """How often each word occurs in `text`."""
    return dict(Counter(word.capitalize() for word in text.split()))
