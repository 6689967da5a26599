from listkit.nested import flatten


def test_any_depth():
    assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]
    assert flatten([[[["deep"]]], "x"]) == ["deep", "x"]


def test_flat_list_unchanged():
    assert flatten([1, 2]) == [1, 2]
