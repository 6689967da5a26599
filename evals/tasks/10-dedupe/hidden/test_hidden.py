from listkit.unique import dedupe


def test_first_occurrences_in_order():
    assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert dedupe([5, 4, 5]) == [5, 4]
