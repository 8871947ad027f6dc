import math

import numpy as np
import pytest

from audiocl.validation import choice, finite_number, non_negative_int, positive_int, probability


def test_positive_int_accepts_integral_numbers_only():
    assert positive_int("n", 3) == 3 and positive_int("n", np.int64(4)) == 4 and positive_int("n", 16000.0) == 16000
    assert positive_int("n", None, allow_none=True) is None
    for bad in (0, -1, True, 2.5, math.inf, math.nan, "3", None):
        with pytest.raises(ValueError, match=r"^n must be a positive int"):
            positive_int("n", bad)


def test_non_negative_int():
    assert non_negative_int("workers", 0) == 0
    with pytest.raises(ValueError, match=r"workers must be an int >= 0, got -1"):
        non_negative_int("workers", -1)


def test_finite_number_bounds():
    assert finite_number("lr", 1e-3, minimum=0, exclusive=True) == 1e-3
    assert finite_number("wd", 0, minimum=0) == 0.0
    for bad in (0.0, -1.0, math.inf, -math.inf, math.nan, False, "0.1"):
        with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
            finite_number("lr", bad, minimum=0, exclusive=True)
    with pytest.raises(ValueError, match=r"p must be a finite number >= 0 and <= 1, got 1.5"):
        probability("p", 1.5)


def test_choice_lists_the_options():
    assert choice("dtype", "int16", ("int16", "float16")) == "int16"
    with pytest.raises(ValueError, match=r"dtype must be one of int16, float16; got 'int8'"):
        choice("dtype", "int8", ("int16", "float16"))
