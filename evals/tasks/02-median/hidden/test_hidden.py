from stats.center import median


def test_even_length_is_the_mean_of_the_middle_two():
    assert median([1, 2, 3, 4]) == 2.5
    assert median([10, 1, 4, 3]) == 3.5


def test_odd_length():
    assert median([5, 1, 3]) == 3
