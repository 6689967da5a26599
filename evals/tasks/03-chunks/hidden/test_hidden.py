from listkit.chunks import chunks


def test_last_chunk_may_be_short():
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_exact_multiple_has_no_empty_chunk():
    assert chunks([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]
    assert chunks([], 3) == []
