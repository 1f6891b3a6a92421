"""A safe, exact calculator for annotation expressions like '48/2' (never eval()).

Numbers become Fractions, so 0.1+0.2 is exactly 0.3 and a replay reproduces the original
results digit for digit. Only numbers, + - * / // % **, unary signs and parentheses pass.
"""

from __future__ import annotations

import ast
import operator
from fractions import Fraction

MAX_LENGTH = 500
MAX_EXPONENT = 64
MAX_BITS = 4096

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class ExpressionError(ValueError):
    """An expression the calculator refuses or cannot compute; the message names the part."""


def evaluate(expr: str) -> Fraction:
    """The exact value of an arithmetic expression."""
    if not isinstance(expr, str):
        raise ExpressionError(f"expression must be text, got {type(expr).__name__}")
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise ExpressionError(f"not an arithmetic expression: {expr!r}") from None
    return _value(tree.body, expr.strip())


def _value(node: ast.AST, source: str) -> Fraction:
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ExpressionError(f"only numbers are allowed, got {node.value!r} in {source!r}")
        return Fraction(ast.get_source_segment(source, node).replace("_", ""))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand, source))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left, source), _value(node.right, source)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right, source)
        elif isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ExpressionError(f"division by zero in {source!r}")
        result = _BINARY[type(node.op)](left, right)
        if max(result.numerator.bit_length(), result.denominator.bit_length()) > MAX_BITS:
            raise ExpressionError(f"number too large in {source!r}")
        return Fraction(result)
    what = type(node).__name__
    detail = {"Name": "names", "Call": "calls", "Attribute": "attributes"}.get(what, f"{what} nodes")
    raise ExpressionError(f"{detail} are not allowed in {source!r}")


def _check_power(base: Fraction, exponent: Fraction, source: str) -> None:
    if exponent.denominator != 1:
        raise ExpressionError(f"only whole exponents are allowed in {source!r}")
    if abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {exponent} exceeds {MAX_EXPONENT} in {source!r}")
    if base == 0 and exponent < 0:
        raise ExpressionError(f"division by zero in {source!r}")
