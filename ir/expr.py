"""Integer index expressions: the only arithmetic a schedule contains.

Expressions are plain, frozen pydantic data so a kernel round-trips through JSON. The builder
composes them with Python operators (``warp_row + 2 * i``); the validator and simulator evaluate
them with concrete values; the emitter prints them as C++.

``==`` keeps pydantic's structural equality (needed for ``model_validate_json(...) == k``), so
equality *tests* inside a schedule are spelled ``x.eq(y)`` / ``x.ne(y)``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

ArithOp = Literal["+", "-", "*", "//", "%", "min", "max"]
CmpOp = Literal["<", "<=", ">", ">=", "==", "!="]

_PRECEDENCE = {"or": 1, "and": 2, "cmp": 3, "+": 4, "-": 4, "*": 5, "//": 5, "%": 5}


class _ExprBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- arithmetic -----------------------------------------------------------------------------
    def __add__(self, other: ExprLike) -> Expr:
        return _arith("+", self, other)

    def __radd__(self, other: ExprLike) -> Expr:
        return _arith("+", other, self)

    def __sub__(self, other: ExprLike) -> Expr:
        return _arith("-", self, other)

    def __rsub__(self, other: ExprLike) -> Expr:
        return _arith("-", other, self)

    def __mul__(self, other: ExprLike) -> Expr:
        return _arith("*", self, other)

    def __rmul__(self, other: ExprLike) -> Expr:
        return _arith("*", other, self)

    def __floordiv__(self, other: ExprLike) -> Expr:
        return _arith("//", self, other)

    def __rfloordiv__(self, other: ExprLike) -> Expr:
        return _arith("//", other, self)

    def __mod__(self, other: ExprLike) -> Expr:
        return _arith("%", self, other)

    def __rmod__(self, other: ExprLike) -> Expr:
        return _arith("%", other, self)

    # -- comparisons (== stays structural equality; use eq/ne) ----------------------------------
    def __lt__(self, other: ExprLike) -> Expr:  # type: ignore[override]
        return Cmp(op="<", lhs=self, rhs=as_expr(other))

    def __le__(self, other: ExprLike) -> Expr:  # type: ignore[override]
        return Cmp(op="<=", lhs=self, rhs=as_expr(other))

    def __gt__(self, other: ExprLike) -> Expr:  # type: ignore[override]
        return Cmp(op=">", lhs=self, rhs=as_expr(other))

    def __ge__(self, other: ExprLike) -> Expr:  # type: ignore[override]
        return Cmp(op=">=", lhs=self, rhs=as_expr(other))

    def eq(self, other: ExprLike) -> Expr:
        return Cmp(op="==", lhs=self, rhs=as_expr(other))

    def ne(self, other: ExprLike) -> Expr:
        return Cmp(op="!=", lhs=self, rhs=as_expr(other))

    def __and__(self, other: ExprLike) -> Expr:
        return BoolOp(op="and", args=(self, as_expr(other)))  # type: ignore[arg-type]

    def __or__(self, other: ExprLike) -> Expr:
        return BoolOp(op="or", args=(self, as_expr(other)))  # type: ignore[arg-type]

    def __invert__(self) -> Expr:
        return Not(arg=self)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        raise TypeError(
            f"the schedule expression `{to_text(self)}` has no Python truth value: it is only known "
            "per wave at run time. Use `k.when(cond)` for a branch, or a Python int for a "
            "build-time decision."
        )

    def __str__(self) -> str:
        return to_text(self)  # type: ignore[arg-type]


class Const(_ExprBase):
    kind: Literal["const"] = "const"
    value: int


class Var(_ExprBase):
    """A named integer: a builtin (``warp``, ``block_row``, ``block_col``, ``num_k_tiles``) or a
    loop variable introduced by a ``For``."""

    kind: Literal["var"] = "var"
    name: str


class Arith(_ExprBase):
    kind: Literal["arith"] = "arith"
    op: ArithOp
    lhs: Expr
    rhs: Expr


class Cmp(_ExprBase):
    kind: Literal["cmp"] = "cmp"
    op: CmpOp
    lhs: Expr
    rhs: Expr


class BoolOp(_ExprBase):
    kind: Literal["bool"] = "bool"
    op: Literal["and", "or"]
    args: tuple[Expr, ...]


class Not(_ExprBase):
    kind: Literal["not"] = "not"
    arg: Expr


Expr = Annotated[Union[Const, Var, Arith, Cmp, BoolOp, Not], Field(discriminator="kind")]
ExprLike = Union[int, bool, Const, Var, Arith, Cmp, BoolOp, Not]

for _model in (Arith, Cmp, BoolOp, Not):
    _model.model_rebuild()

# Builtin variable names, shared by the validator, the simulator and the emitter.
WARP = "warp"
BLOCK_ROW = "block_row"
BLOCK_COL = "block_col"
NUM_K_TILES = "num_k_tiles"
#: The K steps this block ran for its earlier output tiles (tiles done x num_k_tiles; 0 without a
#: persistent grid): ``k_done + kt`` numbers a block's K steps across tiles, as a ring of mbarriers needs.
K_DONE = "k_done"
BUILTIN_VARS = (WARP, BLOCK_ROW, BLOCK_COL, NUM_K_TILES, K_DONE)


def as_expr(value: ExprLike) -> Expr:
    if isinstance(value, _ExprBase):
        return value  # type: ignore[return-value]
    if isinstance(value, bool):
        return Const(value=int(value))
    if isinstance(value, int):
        return Const(value=value)
    raise TypeError(f"expected an int or a schedule expression, got {type(value).__name__}: {value!r}")


def _arith(op: ArithOp, lhs: ExprLike, rhs: ExprLike) -> Expr:
    a, b = as_expr(lhs), as_expr(rhs)
    # Fold constants and identities so built expressions stay as short as the user wrote them.
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(value=_apply_arith(op, a.value, b.value))
    if op == "+" and isinstance(b, Const) and b.value == 0:
        return a
    if op == "+" and isinstance(a, Const) and a.value == 0:
        return b
    if op == "-" and isinstance(b, Const) and b.value == 0:
        return a
    if op == "*" and isinstance(b, Const) and b.value == 1:
        return a
    if op == "*" and isinstance(a, Const) and a.value == 1:
        return b
    if op == "*" and ((isinstance(a, Const) and a.value == 0) or (isinstance(b, Const) and b.value == 0)):
        return Const(value=0)
    if op == "//" and isinstance(b, Const) and b.value == 1:
        return a
    return Arith(op=op, lhs=a, rhs=b)


def minimum(a: ExprLike, b: ExprLike) -> Expr:
    return _arith("min", a, b)


def _apply_arith(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op in ("//", "%"):
        if b == 0:
            raise ZeroDivisionError(f"division by zero in a schedule expression ({a} {op} 0)")
        # C++ semantics: truncation toward zero. Schedules only divide non-negative values, and
        # the validator evaluates with these semantics so it agrees with the emitted code.
        q = abs(a) // abs(b)
        q = q if (a >= 0) == (b >= 0) else -q
        return q if op == "//" else a - q * b
    if op == "min":
        return min(a, b)
    if op == "max":
        return max(a, b)
    raise ValueError(op)


def _apply_cmp(op: str, a: int, b: int) -> bool:
    return {
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
        "==": a == b,
        "!=": a != b,
    }[op]


def evaluate(expr: Expr, env: dict[str, int]) -> int:
    """Value of ``expr`` with the variables in ``env`` (booleans come back as 0 or 1)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Var):
        try:
            return env[expr.name]
        except KeyError:
            raise KeyError(f"schedule variable `{expr.name}` is not defined here") from None
    if isinstance(expr, Arith):
        return _apply_arith(expr.op, evaluate(expr.lhs, env), evaluate(expr.rhs, env))
    if isinstance(expr, Cmp):
        return int(_apply_cmp(expr.op, evaluate(expr.lhs, env), evaluate(expr.rhs, env)))
    if isinstance(expr, BoolOp):
        values = (evaluate(a, env) for a in expr.args)
        return int(all(values)) if expr.op == "and" else int(any(values))
    if isinstance(expr, Not):
        return int(not evaluate(expr.arg, env))
    raise TypeError(f"not an expression: {expr!r}")


def free_vars(expr: Expr) -> set[str]:
    if isinstance(expr, Var):
        return {expr.name}
    if isinstance(expr, (Arith, Cmp)):
        return free_vars(expr.lhs) | free_vars(expr.rhs)
    if isinstance(expr, BoolOp):
        return set().union(*(free_vars(a) for a in expr.args))
    if isinstance(expr, Not):
        return free_vars(expr.arg)
    return set()


def _render(expr: Expr, names: dict[str, str], cpp: bool) -> tuple[str, int]:
    """(text, precedence) for ``expr``; ``names`` renames variables (emitter's C++ names)."""
    if isinstance(expr, Const):
        return str(expr.value), 9
    if isinstance(expr, Var):
        return names.get(expr.name, expr.name), 9
    if isinstance(expr, Arith):
        if expr.op in ("min", "max"):
            lhs, _ = _render(expr.lhs, names, cpp)
            rhs, _ = _render(expr.rhs, names, cpp)
            return f"{expr.op}({lhs}, {rhs})", 9
        prec = _PRECEDENCE[expr.op]
        lhs, lp = _render(expr.lhs, names, cpp)
        rhs, rp = _render(expr.rhs, names, cpp)
        if lp < prec:
            lhs = f"({lhs})"
        # Right operand of a non-commutative op needs parentheses at equal precedence too.
        if rp < prec or (rp == prec and expr.op in ("-", "//", "%", "*")):
            rhs = f"({rhs})"
        op = "/" if (cpp and expr.op == "//") else expr.op
        return f"{lhs} {op} {rhs}", prec
    if isinstance(expr, Cmp):
        lhs, lp = _render(expr.lhs, names, cpp)
        rhs, rp = _render(expr.rhs, names, cpp)
        # C++ ranks < above == and chains left to right (Python chains): parenthesise any
        # comparison or boolean operand so both languages read one meaning.
        lhs = f"({lhs})" if lp <= _PRECEDENCE["cmp"] else lhs
        rhs = f"({rhs})" if rp <= _PRECEDENCE["cmp"] else rhs
        return f"{lhs} {expr.op} {rhs}", _PRECEDENCE["cmp"]
    if isinstance(expr, BoolOp):
        prec = _PRECEDENCE[expr.op]
        parts = []
        for arg in expr.args:
            text, p = _render(arg, names, cpp)
            parts.append(f"({text})" if p < prec else text)
        joiner = (" && " if expr.op == "and" else " || ") if cpp else f" {expr.op} "
        return joiner.join(parts), prec
    if isinstance(expr, Not):
        text, p = _render(expr.arg, names, cpp)
        inner = f"({text})" if p < 9 else text
        return (f"!{inner}" if cpp else f"not {inner}"), 8
    raise TypeError(f"not an expression: {expr!r}")


def to_text(expr: Expr) -> str:
    """Python-like text, for messages."""
    return _render(expr, {}, cpp=False)[0]


def to_cpp(expr: Expr, names: dict[str, str] | None = None) -> str:
    """C++ text; ``names`` maps schedule variable names to the emitted C++ identifiers."""
    return _render(expr, names or {}, cpp=True)[0]


def simplify(expr: Expr) -> Expr:
    """``expr`` with the constants of every sum folded (``k + 3 - 1`` -> ``k + 2``): each chain of
    ``+`` / ``-`` becomes its terms in their first order, then one constant. Same value for every
    environment (integer addition is associative); division and modulo are left as written."""
    if isinstance(expr, Arith):
        lhs, rhs = simplify(expr.lhs), simplify(expr.rhs)
        if expr.op not in ("+", "-"):
            return _arith(expr.op, lhs, rhs)
        terms, constant = _linear(Arith(op=expr.op, lhs=lhs, rhs=rhs), 1)
        positive = [t for sign, t in terms if sign > 0]
        negative = [t for sign, t in terms if sign < 0]
        if not positive:
            out: Expr = Const(value=constant)
            constant = 0
        else:
            out = positive[0]
            for term in positive[1:]:
                out = Arith(op="+", lhs=out, rhs=term)
        for term in negative:
            out = Arith(op="-", lhs=out, rhs=term)
        if constant > 0:
            out = Arith(op="+", lhs=out, rhs=Const(value=constant))
        elif constant < 0:
            out = Arith(op="-", lhs=out, rhs=Const(value=-constant))
        return out
    if isinstance(expr, Cmp):
        return Cmp(op=expr.op, lhs=simplify(expr.lhs), rhs=simplify(expr.rhs))
    if isinstance(expr, BoolOp):
        return BoolOp(op=expr.op, args=tuple(simplify(a) for a in expr.args))
    if isinstance(expr, Not):
        return Not(arg=simplify(expr.arg))
    return expr


def linear_terms(expr: Expr) -> tuple[list[tuple[int, Expr]], int]:
    """``expr`` as a sum: its (sign, term) list and its constant (``a + 2 - b`` -> ``[(1, a),
    (-1, b)], 2``). Two expressions with the same terms differ by the difference of constants."""
    return _linear(simplify(expr), 1)


def _linear(expr: Expr, sign: int) -> tuple[list[tuple[int, Expr]], int]:
    if isinstance(expr, Const):
        return [], sign * expr.value
    if isinstance(expr, Arith) and expr.op in ("+", "-"):
        left, c1 = _linear(expr.lhs, sign)
        right, c2 = _linear(expr.rhs, sign if expr.op == "+" else -sign)
        return left + right, c1 + c2
    return [(sign, expr)], 0
