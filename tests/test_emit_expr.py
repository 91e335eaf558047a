"""Expressions the emitter prints must mean in C++ what they mean in the IR.

A tiny evaluator with C's grammar and semantics (precedence, left associativity, truncating
division, 0/1 booleans, short-circuit && and ||) reads the text ``ir.expr.to_cpp`` prints; for
random expression trees its value must equal ``ir.expr.evaluate``.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backends.hip.emitter import BUILTIN_NAMES
from ir.expr import Arith, BoolOp, Cmp, Const, Expr, Not, Var, evaluate, to_cpp

VARIABLES = ("warp", "block_row", "num_k_tiles", "k", "i")

# -- a C expression evaluator --------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||<=|>=|==|!=|[-+*/%<>!(),]))")
#: Binary operators by C precedence level, loosest first.
_LEVELS = (("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match and match.end() > pos, f"cannot tokenize {text[pos:]!r} in {text!r}"
        tokens.append(next(group for group in match.groups() if group is not None))
        pos = match.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return tokens


def _c_div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class _CParser:
    """Recursive descent over C's precedence levels; ``eval_c`` returns the value."""

    def __init__(self, text: str, env: dict[str, int]):
        self.tokens = _tokens(text)
        self.pos = 0
        self.env = env

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        assert expected is None or token == expected, f"expected {expected!r}, got {token!r}"
        self.pos += 1
        return token

    def binary(self, level: int) -> object:
        """A thunk (for short-circuit evaluation) of the expression at ``level``."""
        if level == len(_LEVELS):
            return self.unary()
        lhs = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.take()
            rhs = self.binary(level + 1)
            lhs = self._combine(op, lhs, rhs)
        return lhs

    @staticmethod
    def _combine(op: str, lhs, rhs):  # type: ignore[no-untyped-def]
        if op == "&&":
            return lambda: int(bool(lhs()) and bool(rhs()))
        if op == "||":
            return lambda: int(bool(lhs()) or bool(rhs()))
        apply = {
            "==": lambda a, b: int(a == b),
            "!=": lambda a, b: int(a != b),
            "<": lambda a, b: int(a < b),
            "<=": lambda a, b: int(a <= b),
            ">": lambda a, b: int(a > b),
            ">=": lambda a, b: int(a >= b),
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
            "*": lambda a, b: a * b,
            "/": _c_div,
            "%": lambda a, b: a - _c_div(a, b) * b,
        }[op]
        return lambda: apply(lhs(), rhs())

    def unary(self):  # type: ignore[no-untyped-def]
        token = self.peek()
        if token == "!":
            self.take()
            inner = self.unary()
            return lambda: int(not inner())
        if token == "-":
            self.take()
            inner = self.unary()
            return lambda: -inner()
        return self.primary()

    def primary(self):  # type: ignore[no-untyped-def]
        token = self.take()
        if token == "(":
            inner = self.binary(0)
            self.take(")")
            return inner
        if token.isdigit():
            return lambda: int(token)
        if token in ("min", "max") and self.peek() == "(":
            self.take("(")
            a = self.binary(0)
            self.take(",")
            b = self.binary(0)
            self.take(")")
            pick = min if token == "min" else max
            return lambda: pick(a(), b())
        value = self.env[token]
        return lambda: value


def eval_c(text: str, env: dict[str, int]) -> int:
    parser = _CParser(text, env)
    thunk = parser.binary(0)
    assert parser.peek() is None, f"trailing tokens in {text!r}: {parser.tokens[parser.pos :]}"
    return thunk()  # type: ignore[operator]


# -- random expression trees ---------------------------------------------------------------------

_leaves = st.one_of(
    st.integers(min_value=-6, max_value=9).map(lambda v: Const(value=v)),
    st.sampled_from(VARIABLES).map(lambda n: Var(name=n)),
)


ARITH_OPS = st.sampled_from(["+", "-", "*", "//", "%", "min", "max"])
CMP_OPS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(lambda op, a, b: Arith(op=op, lhs=a, rhs=b), ARITH_OPS, children, children),
        st.builds(lambda op, a, b: Cmp(op=op, lhs=a, rhs=b), CMP_OPS, children, children),
        st.builds(
            lambda op, args: BoolOp(op=op, args=tuple(args)),
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=2, max_size=3),
        ),
        st.builds(lambda a: Not(arg=a), children),
    )


expressions = st.recursive(_leaves, _extend, max_leaves=12)
environments = st.fixed_dictionaries({name: st.integers(min_value=-4, max_value=12) for name in VARIABLES})


@settings(max_examples=400, deadline=None)
@given(expressions, environments)
def test_printed_cpp_evaluates_like_the_ir(expr: Expr, env: dict[str, int]) -> None:
    try:
        expected = evaluate(expr, env)
    except ZeroDivisionError:
        assume(False)
    c_env = {BUILTIN_NAMES.get(name, name): value for name, value in env.items()}
    text = to_cpp(expr, BUILTIN_NAMES)
    assert eval_c(text, c_env) == expected, f"`{text}` means something else in C++ than the IR expression"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0 == 2 < 3", 0),  # C: 0 == (2 < 3); left to right it would be 1
        ("1 < 2 == 1", 1),  # C: (1 < 2) == 1
        ("7 / 2 * 2", 6),
        ("-7 / 2", -3),
        ("-7 % 3", -1),
        ("0 && 1 / 0", 0),  # short circuit
        ("1 || 0 && 0", 1),
        ("!0 + 1", 2),
        ("min(3, 2 + 5) - max(1, 0)", 2),
    ],
)
def test_the_c_evaluator_follows_c_rules(text: str, value: int) -> None:
    """The oracle itself: hand-checked C results, including the precedence traps."""
    assert eval_c(text, {}) == value


def test_builtins_print_with_their_cpp_names() -> None:
    expr = Var(name="warp") // 2 + Var(name="num_k_tiles") * Var(name="block_row")
    assert to_cpp(expr, BUILTIN_NAMES) == "warp_id / 2 + num_k_tiles * block_row"
