VALUES = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(number: int) -> str:
    """`number` (1..3999) in Roman numerals."""
    out = ""
    for value, letters in VALUES:
        while number >= value:
            out += letters
            number -= value
    return out
