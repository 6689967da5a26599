from textkit.words import word_counts


def test_case_insensitive_lowercase_keys():
    assert word_counts("The cat and the hat") == {"the": 2, "cat": 1, "and": 1, "hat": 1}
    assert word_counts("THE the The") == {"the": 3}
