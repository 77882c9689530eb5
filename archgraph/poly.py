"""Closed form: a model's count as an exact polynomial in its token count N.

For token-mixing models every cost term is a polynomial in N: linear maps and norms scale
with N, attention's q@k^T and attn@v (and ResMLP's N x N token map) with N², the head not at
all. `closed_form` counts the model at several image sizes, solves for the coefficients
exactly (Newton divided differences over Fractions), and checks the polynomial on points it
was not fitted to. N is the length of the sequence that enters the model's first repeated
stack (for ViT: patches + prefix tokens, N = (img_size / patch)² + prefix); the image size
is mapped to N by a second polynomial fitted the same way.

The crossover is the N where the N² (and higher) terms equal everything else together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from archgraph.ir import Graph
from archgraph.knobs import input_size, size_knob
from archgraph.record import record

SAMPLES = 5  # image sizes lowered: enough to fit up to a cubic and check it on one more point


@record(frozen=True)
class Polynomial:
    """sum(coeffs[k] * x**k), exact."""

    coeffs: tuple[Fraction, ...]
    variable: str = "N"

    def __call__(self, x: int | Fraction | float) -> Fraction | float:
        total: Fraction | float = Fraction(0)
        for c in reversed(self.coeffs):
            total = total * x + c
        return total

    @property
    def degree(self) -> int:
        return max((k for k, c in enumerate(self.coeffs) if c), default=0)

    def coefficient(self, k: int) -> Fraction:
        return self.coeffs[k] if k < len(self.coeffs) else Fraction(0)

    def json(self) -> list[int | str]:
        """Coefficients, lowest power first: ints when whole, else "p/q" strings."""
        return [int(c) if c.denominator == 1 else str(c) for c in self.coeffs[: self.degree + 1]]

    def __str__(self) -> str:
        terms = []
        for k in range(self.degree, -1, -1):
            c = self.coefficient(k)
            if not c and self.degree:
                continue
            power = (
                "" if k == 0 else self.variable if k == 1 else f"{self.variable}²" if k == 2 else f"{self.variable}^{k}"
            )
            number = f"{int(c):,}" if c.denominator == 1 else str(c)
            terms.append(f"{number}·{power}" if power else number)
        return " + ".join(terms).replace("+ -", "- ")


def fit(points: list[tuple[int, int]], variable: str = "N") -> Polynomial:
    """The polynomial through `points` [(x, y)] exactly; raises ValueError if no point is left to check it."""
    xs = [Fraction(x) for x, _ in points]
    if len(set(xs)) != len(xs):
        raise ValueError(f"the sample points repeat an x: {[x for x, _ in points]}")
    table = [Fraction(y) for _, y in points]
    newton = [table[0]]
    for level in range(1, len(xs)):
        table = [(table[i + 1] - table[i]) / (xs[i + level] - xs[i]) for i in range(len(table) - 1)]
        newton.append(table[0])
    coeffs = [Fraction(0)] * len(xs)
    basis = [Fraction(1)]  # prod (x - xs[j]) for j < level, as coefficients
    for level, a in enumerate(newton):
        for k, b in enumerate(basis):
            coeffs[k] += a * b
        basis = [Fraction(0), *basis]
        for k in range(len(basis) - 1):
            basis[k] -= xs[level] * basis[k + 1]
    poly = Polynomial(tuple(coeffs), variable)
    if poly.degree >= len(points) - 1:
        raise ValueError(f"not a polynomial of degree below {len(points) - 1} in {variable} over these points")
    return poly


@record(frozen=True)
class ClosedForm:
    """A count as a polynomial in N, N as a polynomial in the image size, and the N² crossover."""

    model: str
    what: str  # which count: a convention's name
    count: Polynomial  # in N, at batch 1
    tokens: Polynomial  # N as a polynomial in img_size
    samples: tuple[tuple[int, int, int], ...]  # (img_size, N, count) it was fitted and checked on
    step: int  # image sizes sampled are multiples of this
    knob: str = "img_size"  # the parameter the image size was varied by (archgraph.knobs)

    @property
    def quadratic(self) -> Polynomial:
        """The N² and higher terms."""
        return Polynomial(tuple(c if k >= 2 else Fraction(0) for k, c in enumerate(self.count.coeffs)))

    @property
    def linear(self) -> Polynomial:
        """The terms of degree 0 and 1: everything that does not grow faster than N."""
        return Polynomial((self.count.coefficient(0), self.count.coefficient(1)))

    def crossover_tokens(self) -> float | None:
        """The N at which the N² terms equal everything else; None without an N² term."""
        if self.count.degree < 2:
            return None
        gap = lambda n: float(self.quadratic(n)) - float(self.linear(n))  # noqa: E731
        return _root(gap, 1.0)

    def crossover_image(self) -> float | None:
        n = self.crossover_tokens()
        if n is None or self.tokens.degree < 1:
            return None
        return _root(lambda img: float(self.tokens(img)) - n, 1.0)

    def json(self) -> dict:
        n, img = self.crossover_tokens(), self.crossover_image()
        valid = math.ceil(img / self.step) * self.step if img else None
        return {
            "model": self.model, "convention": self.what, "variable": "N", "batch": 1,
            "coefficients": self.count.json(), "polynomial": str(self.count),
            "tokens_from_img_size": self.tokens.json(), "tokens_polynomial": str(self.tokens),
            "crossover_tokens": round(n, 2) if n else None, "crossover_img_size": round(img, 2) if img else None,
            "crossover_valid_img_size": valid,
            "samples": [{"img_size": i, "tokens": t, "count": c} for i, t, c in self.samples], "size_knob": self.knob,
        }  # fmt: skip


def _root(f: Callable[[float], float], lo: float) -> float | None:
    """The smallest x >= lo with f(x) >= 0 (f increasing there), by doubling and bisection."""
    hi = lo
    while f(hi) < 0:
        lo, hi = hi, hi * 2
        if hi > 1e15:
            return None
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return hi


def token_count(graph: Graph) -> int:
    """N: the sequence length entering the first repeated stack, else the first attention's key count."""
    for scope in graph.root.walk():
        if scope.kind == "repeat" and scope.inputs:
            t = graph.type_of(scope.inputs[0])
            if t.rank == 3:
                return int(t.dims[1])
    for node in graph.nodes.values():
        if node.op == "sdpa":
            return int(graph.type_of(node.inputs[1]).dims[2])
    raise ValueError(f"`{graph.name}` has no token sequence (no repeated stack over [B, N, C], no attention)")


def image_step(graph: Graph) -> int:
    """The image-size step that keeps every layer's size exact: the stride from the input's size (its
    size knob, archgraph.knobs) to the coarsest token grid (a hierarchical model's last stage); 32
    without tokens or a knob."""
    img = input_size(graph)
    strides = []
    for node in graph.nodes.values():
        if node.op == "to_tokens" and isinstance(img, int):
            grid = graph.type_of(node.inputs[0]).dims[2]
            if isinstance(grid, int) and img % grid == 0:
                strides.append(img // grid)
    return max(strides) if strides else 32


def closed_form(graph: Graph, sample: Callable[[int], tuple[int, int]], what: str,
                samples: int = SAMPLES) -> ClosedForm:  # fmt: skip
    """Fit the count as a polynomial in N from `samples` image sizes (`sample(size)` is (N, count) of the
    model with its size knob, archgraph.knobs, set to `size`; `graph` is the model at its own size)."""
    img = input_size(graph)
    if img is None:
        raise ValueError(f"`{graph.name}` has no size knob to vary (a parameter written as its input's spatial "
                         "axes, e.g. `input x: [B, 3, img_size, img_size]`)")  # fmt: skip
    step = image_step(graph)
    points: list[tuple[int, int, int]] = []
    size = max(step, img - 2 * step)
    while len(points) < samples:
        points.append((size, *sample(size)))
        size += step
    if len({n for _, n, _ in points}) == 1:  # a fixed latent array (Perceiver's): N is not the image's
        knob = size_knob(graph) or "img_size"
        raise ValueError(
            f"the token count N is {points[0][1]:,} at every {knob} tried "
            f"({', '.join(str(i) for i, _, _ in points)}): the count is not a function of N"
        )
    poly = fit([(n, c) for _, n, c in points])
    tokens = fit([(i, n) for i, n, _ in points], "img_size")
    return ClosedForm(graph.name, what, poly, tokens, tuple(points), step, size_knob(graph) or "img_size")
