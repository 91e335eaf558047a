"""Properties of schedule expressions: evaluation, printing, JSON round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from ir.expr import Const, Expr, Var, as_expr, evaluate, free_vars, to_cpp, to_text

VARS = ("warp", "k", "i")
EXPR_ADAPTER = TypeAdapter(Expr)


def _exprs() -> st.SearchStrategy:
    leaves = st.one_of(
        st.integers(0, 50).map(lambda v: Const(value=v)), st.sampled_from(VARS).map(lambda n: Var(name=n))
    )

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        positive = st.integers(1, 9).map(lambda v: Const(value=v))
        return st.one_of(
            st.tuples(children, children).map(lambda p: p[0] + p[1]),
            st.tuples(children, children).map(lambda p: p[0] * p[1]),
            st.tuples(children, children).map(lambda p: p[0] - p[1]),
            st.tuples(children, positive).map(lambda p: p[0] // p[1]),
            st.tuples(children, positive).map(lambda p: p[0] % p[1]),
        )

    return st.recursive(leaves, extend, max_leaves=8)


def _python_eval(text: str, env: dict[str, int]) -> int:
    """Evaluate the Python-like text with C semantics for // and % on non-negative operands."""
    return eval(text, {}, dict(env))


ENVS = st.fixed_dictionaries({name: st.integers(0, 20) for name in VARS})


@settings(max_examples=200, deadline=None)
@given(expr=_exprs(), env=ENVS)
def test_text_reparses_to_same_value_when_nonnegative(expr: Expr, env: dict[str, int]) -> None:
    # Python and C agree on // and % when every intermediate is non-negative: print and re-read.
    value = evaluate(expr, env)
    text = to_text(expr)
    if "-" not in text:
        assert _python_eval(text, env) == value


@settings(max_examples=200, deadline=None)
@given(expr=_exprs())
def test_json_round_trip_is_exact(expr: Expr) -> None:
    assert EXPR_ADAPTER.validate_json(EXPR_ADAPTER.dump_json(expr)) == expr


@settings(max_examples=100, deadline=None)
@given(expr=_exprs())
def test_free_vars_are_exactly_the_names_printed(expr: Expr) -> None:
    text = to_text(expr)
    for name in VARS:
        assert (name in free_vars(expr)) == (name in text.replace("(", " ").replace(")", " ").split())


def test_division_truncates_toward_zero_like_cpp() -> None:
    k = Var(name="k")
    assert evaluate(k // 2, {"k": -3}) == -1
    assert evaluate(k % 2, {"k": -3}) == -1


def test_constants_fold_and_identities_vanish() -> None:
    w = Var(name="warp")
    assert (w + 0) == w
    assert (1 * w) == w
    assert (as_expr(2) * 3) == Const(value=6)


def test_cpp_uses_integer_division_and_logical_operators() -> None:
    w, k = Var(name="warp"), Var(name="k")
    assert to_cpp((w // 2 < 1) & (k + 1 < 4), {"warp": "warp_id"}) == "warp_id / 2 < 1 && k + 1 < 4"
    assert to_cpp(k - (w - 1)) == "k - (warp - 1)"


def test_expression_has_no_python_truth_value() -> None:
    with pytest.raises(TypeError, match=r"k\.when"):
        bool(Var(name="warp") < 4)
