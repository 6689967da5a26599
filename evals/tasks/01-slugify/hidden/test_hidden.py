from textkit.slug import slugify


def test_runs_of_separators_become_one_hyphen():
    assert slugify("Hello,  World!") == "hello-world"
    assert slugify("a   ---   b") == "a-b"


def test_no_hyphen_at_the_ends():
    assert slugify("  Orchard 2.0  ") == "orchard-2-0"
