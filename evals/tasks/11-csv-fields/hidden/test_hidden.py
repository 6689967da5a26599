from textkit.fields import split_fields


def test_quoted_comma_stays_in_its_field():
    assert split_fields('a,"b,c",d') == ["a", "b,c", "d"]


def test_plain_fields():
    assert split_fields("x,y") == ["x", "y"]
