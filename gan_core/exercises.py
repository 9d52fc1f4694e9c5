"""The course's exercises as short NumPy programs that build z, one row per face, and the
small safe interpreter that runs them and a learner's own (a learner edits them in a shared
server's page; `exec` would run anything, and NumPy would allocate anything)."""

from __future__ import annotations

import ast
import math
import time

import numpy as np

EXERCISES = {
    "exercise1": """\
# Exercise 1: every component of z set to the same value c.
cs = [1, 0.8, 0.6, 0.4, -0.4, -0.6, -0.8, -1]
z = np.ones((8, 100))
for i, c in enumerate(cs):
    z[i] = c
""",
    "exercise2": """\
# Exercise 2: start from ones, then set the first 20n components to -0.5n.
z = np.ones((5, 100))
for n in range(5):
    z[n, 0:20 * n] = -0.5 * n
""",
    "exercise3": """\
# Exercise 3: ten random faces, with the first 35 components fixed at -1.
z = np.random.normal(0, 1, (10, 100))
z[:, 0:35] = -1
""",
    "hair_colour": """\
# Demo: the first 10n components at -1, for n = 0..9: the hair colour shifts.
z = np.ones((10, 100))
for n in range(10):
    z[n, 0:10 * n] = -1
""",
    "light_hair": """\
# Demo: the first 20 components at 1, the rest random: the hair stays light.
z = np.random.normal(0, 1, (10, 100))
z[:, 0:20] = 1
""",
}

MAX_FACES = 64
MAX_ELEMENTS = 1_000_000       # any one value the code makes
MAX_ITERATIONS = 10_000
MAX_WORK = 50_000_000          # numbers computed in all: about a second of one core
MAX_SECONDS = 2.0              # and wall time, for what the count does not see


def _size(value) -> int:
    """How many numbers a value would become as an array, counted without making it (a list
    of many references to one large array is large)."""
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, (list, tuple)):
        total = 0
        for item in value:
            total += _size(item)
            if total > MAX_ELEMENTS:
                break
        return total
    return 1


class ExerciseError(ValueError):
    """Code that cannot run, with the line it failed on."""


class _Interpreter:
    """Runs a tiny subset of Python on NumPy values: assignments (to names and slices), for
    loops over range/enumerate/lists, arithmetic, indexing, and a few NumPy calls. Nothing
    else exists inside it: no imports, attributes, builtins or files, and sizes are bounded."""

    _OPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
            ast.Div: np.divide, ast.FloorDiv: np.floor_divide, ast.Mod: np.mod}

    def __init__(self, seed):
        rng = np.random.default_rng(seed)

        def normal(loc=0.0, scale=1.0, size=None):
            # loc and scale broadcast: bound the result's shape before drawing it
            shape = np.broadcast_shapes(np.shape(self._array(loc)), np.shape(self._array(scale)))
            if size is not None:
                shape = shape_of(size)
            elif math.prod(shape) > MAX_ELEMENTS:
                raise ExerciseError(f"an array of shape {shape} is too large")
            else:
                self.spend(math.prod(shape))
            return rng.normal(self._array(loc), self._array(scale), shape)

        def shape_of(*args):
            shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            shape = tuple(int(s) for s in np.atleast_1d(shape))
            if any(s < 0 for s in shape) or math.prod(shape) > MAX_ELEMENTS:
                raise ExerciseError(f"an array of shape {shape} is too large")
            self.spend(math.prod(shape))
            return shape

        self.functions = {
            "np.ones": lambda shape: np.ones(shape_of(shape)),
            "np.zeros": lambda shape: np.zeros(shape_of(shape)),
            "np.full": lambda shape, value: np.full(shape_of(shape), float(value)),
            "np.array": lambda values: self._array(values).copy(),
            "np.linspace": lambda a, b, n: np.linspace(float(a), float(b), shape_of(n)[0]),
            "np.random.normal": normal,
            "np.random.randn": lambda *shape: rng.standard_normal(shape_of(*shape)),
            "range": lambda *args: range(*(int(a) for a in args)),
            "enumerate": enumerate, "len": len, "abs": abs,
        }
        self.names = {}
        self.iterations = 0
        self.work = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def spend(self, numbers):
        """Count the numbers computed; code past its budget stops with a message."""
        self.work += numbers
        if self.work > MAX_WORK:
            raise ExerciseError(f"the code computes too much (over {MAX_WORK:,} numbers); "
                              "make z with fewer, smaller steps")
        if time.monotonic() > self.deadline:
            raise ExerciseError(f"the code ran longer than {MAX_SECONDS:g} s")

    @staticmethod
    def _checked(value):
        if isinstance(value, np.ndarray) and value.size > MAX_ELEMENTS:
            raise ExerciseError(f"an array of {value.size:,} numbers is too large")
        return value

    @staticmethod
    def _array(value):
        """A value as a float array, its size bounded before it is made; ragged lists are a
        clear message, not NumPy's."""
        if _size(value) > MAX_ELEMENTS:
            raise ExerciseError("that array would be too large")
        try:
            return np.asarray(value, np.float64)
        except ValueError:
            raise ExerciseError("that is not a rectangular array of numbers (are some rows "
                              "longer than others?)") from None

    def run(self, tree):
        for statement in tree.body:
            self.statement(statement)

    def statement(self, node):
        try:
            if isinstance(node, ast.Assign):
                value = self.expr(node.value)
                for target in node.targets:
                    self.assign(target, value)
            elif isinstance(node, ast.AugAssign):
                current = self.expr(node.target)
                self.assign(node.target, self.binop(node.op, current, self.expr(node.value)))
            elif isinstance(node, ast.For) and not node.orelse:
                for item in self.expr(node.iter):
                    self.iterations += 1
                    self.spend(1)
                    if self.iterations > MAX_ITERATIONS:
                        raise ExerciseError(f"more than {MAX_ITERATIONS:,} loop iterations")
                    self.assign(node.target, item)
                    for inner in node.body:
                        self.statement(inner)
            elif isinstance(node, ast.Expr):
                self.expr(node.value)
            else:
                raise ExerciseError(f"{type(node).__name__} statements are not supported")
        except ExerciseError as error:
            if "line" in str(error):
                raise
            raise ExerciseError(f"line {node.lineno}: {error}") from None
        except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as error:
            raise ExerciseError(f"line {node.lineno}: {error}") from None

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            self.names[target.id] = value
        elif isinstance(target, ast.Tuple):
            values = list(value)
            if len(values) != len(target.elts):
                raise ExerciseError("wrong number of values to unpack")
            for t, v in zip(target.elts, values):
                self.assign(t, v)
        elif isinstance(target, ast.Subscript):
            array = self.expr(target.value)
            if not isinstance(array, np.ndarray):
                raise ExerciseError("only arrays can be assigned into")
            value = self._array(value)
            self.spend(value.size)
            array[self.index(target.slice)] = value
        else:
            raise ExerciseError("you can assign to names and array slices only")

    def index(self, node):
        if isinstance(node, ast.Slice):
            part = [None if p is None else int(self.expr(p))
                    for p in (node.lower, node.upper, node.step)]
            return slice(*part)
        if isinstance(node, ast.Tuple):
            return tuple(self.index(e) for e in node.elts)
        value = self.expr(node)
        if not isinstance(value, (int, float, np.number)):    # no fancy indexing: bounded
            raise ExerciseError("index with numbers and slices only")
        return int(value)

    def binop(self, op, a, b):
        if type(op) not in self._OPS:
            raise ExerciseError(f"the operator {type(op).__name__} is not supported")
        # NumPy arithmetic, so `[1] * 10**9` is a multiplication, not a billion-item list;
        # the result's size is checked before it is made.
        a, b = self._array(a), self._array(b)
        size = math.prod(np.broadcast_shapes(a.shape, b.shape))
        if size > MAX_ELEMENTS:
            raise ExerciseError("that result would be too large")
        self.spend(size)
        if isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod)) and (b == 0).any():
            raise ExerciseError("division by zero")
        with np.errstate(all="ignore"):      # a NaN or inf z is refused at the end, by name
            return self._OPS[type(op)](a, b)

    def dotted(self, node):
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return f"{self.dotted(node.value)}.{node.attr}"
        raise ExerciseError("unsupported call")

    def expr(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise ExerciseError(f"{node.id!r} is not defined")
            return self.names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.expr(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, (ast.List, ast.Tuple)):
            if len(node.elts) > MAX_ELEMENTS:
                raise ExerciseError("that list is too long")
            return [self.expr(e) for e in node.elts]
        if isinstance(node, ast.Subscript):
            return self._checked(self._array(self.expr(node.value))[self.index(node.slice)])
        if isinstance(node, ast.Call):
            name = self.dotted(node.func)
            if name not in self.functions:
                raise ExerciseError(f"{name}() is not available; the code may use "
                                  + ", ".join(sorted(self.functions)))
            args = [self.expr(a) for a in node.args]
            kwargs = {k.arg: self.expr(k.value) for k in node.keywords if k.arg}
            return self.functions[name](*args, **kwargs)
        raise ExerciseError(f"{type(node).__name__} is not supported in an exercise")


def run(code: str, latent_dim: int, seed: int = 0) -> np.ndarray:
    """Run an exercise, or a learner's own code; its `z` as float32 (n, latent_dim). Any shape
    (..., latent_dim) works, so the course's (n, 1, 1, 100) does too. Raises ExerciseError
    with a learner-readable reason."""
    if len(code) > 10_000:
        raise ExerciseError("the code is too long (10,000 characters at most)")
    interpreter = _Interpreter(seed)
    try:
        interpreter.run(ast.parse(code))
    except SyntaxError as error:
        raise ExerciseError(f"line {error.lineno}: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ExerciseError("the code is nested too deeply") from None
    if "z" not in interpreter.names:
        raise ExerciseError("the code must set z")
    try:
        z = interpreter._array(interpreter.names["z"])
    except ExerciseError as error:
        raise ExerciseError(f"z: {error}") from None
    if z.ndim == 0 or z.shape[-1] != latent_dim:
        raise ExerciseError(f"z must end in {latent_dim} components; it has shape {z.shape}")
    z = z.reshape(-1, latent_dim)
    if not 1 <= len(z) <= MAX_FACES:
        raise ExerciseError(f"z must hold 1 to {MAX_FACES} faces; it holds {len(z)}")
    if not np.isfinite(z).all():
        raise ExerciseError("z holds NaN or infinite values")
    return z.astype(np.float32)
