"""The course's exercises as code that builds z, and the safe interpreter that runs them and a
learner's own (tests/test_hardening.py holds the greedy cases that need a memory cap)."""

import numpy as np
import pytest

from gan_core import exercises


# --- The course's exercises, as the course writes them ----------------------------------------

def test_the_exercises_build_the_course_z():
    ones = np.ones(100, np.float32)
    z1 = exercises.run(exercises.EXERCISES["exercise1"], 100)
    np.testing.assert_array_equal(z1, np.stack([c * ones for c in
                                                [1, 0.8, 0.6, 0.4, -0.4, -0.6, -0.8, -1]]))
    z2 = exercises.run(exercises.EXERCISES["exercise2"], 100)
    for n in range(5):
        expected = ones.copy()
        expected[0:20 * n] = -0.5 * n
        np.testing.assert_array_equal(z2[n], expected)
    z3 = exercises.run(exercises.EXERCISES["exercise3"], 100, seed=4)
    assert z3.shape == (10, 100) and (z3[:, :35] == -1).all()
    assert len({tuple(row[35:]) for row in z3}) == 10 and abs(z3[:, 35:].std() - 1) < 0.15
    hair = exercises.run(exercises.EXERCISES["hair_colour"], 100)
    assert [int((row == -1).sum()) for row in hair] == [10 * n for n in range(10)]
    light = exercises.run(exercises.EXERCISES["light_hair"], 100, seed=1)
    assert (light[:, :20] == 1).all() and light.shape == (10, 100)


def test_an_exercise_is_deterministic_by_seed_and_editable():
    code = exercises.EXERCISES["exercise3"]
    np.testing.assert_array_equal(exercises.run(code, 100, 7), exercises.run(code, 100, 7))
    assert not np.array_equal(exercises.run(code, 100, 7), exercises.run(code, 100, 8))
    edited = "z = np.zeros((1, 1, 1, 100))\nz[0, 0, 0, 5:10] += 2\nz = z * -1"
    z = exercises.run(edited, 100)
    assert z.shape == (1, 100) and (z[0, 5:10] == -2).all() and z[0].sum() == -10


@pytest.mark.parametrize("code, reason", [
    ("import os", "Import"),
    ("z = ().__class__", "Attribute"),
    ("z = open('/etc/passwd')", "not available"),
    ("z = np.ones(1000000000)", "too large"),
    ("z = np.ones((1000, 1)) * np.ones((1, 1000000))", "too large"),
    ("for i in range(1000000000):\n    z = 1", "loop iterations"),
    ("z = np.ones(100)[np.zeros(3)]", "numbers and slices"),
    ("z = np.ones((2, 50))", "end in 100"),
    ("z = np.ones((65, 100))", "1 to 64 faces"),
    ("x = 1", "must set z"),
    ("z = np.ones(100) / 0", "division by zero"),
    ("z = np.ones(100) * 1e308 * 10", "NaN or infinite"),
    ("z = (", "line 1"),
    ("z = " + "(" * 3000 + "1" + ")" * 3000, "nested"),
    ("z = " + "-" * 3000 + "1", "nested too deeply"),
    ("z = 1" + " " * 10000, "too long"),
])
def test_bad_code_is_refused_with_a_reason(code, reason):
    with pytest.raises(exercises.ExerciseError, match=reason):
        exercises.run(code, 100)
