from mathkit.bounds import clamp


def test_above_the_range_is_the_upper_bound():
    assert clamp(15, 0, 10) == 10


def test_below_and_inside():
    assert clamp(-3, 0, 10) == 0
    assert clamp(4, 0, 10) == 4
