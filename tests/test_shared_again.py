"""A shared repeat given its label again calls the same module again (Perceiver's weight sharing: the
latent Transformer runs after each of 8 cross-attends with one set of weights): weights counted once,
work counted per call, one attribute in the generated module, one report row per module. Torch-free."""

from __future__ import annotations

from archgraph.codegen import generate
from archgraph.cost import totals
from archgraph.report import report_data
from tests.test_language import compile_text, error_of

AGAIN = """
block step(x: [B, N, D]) {
    return x + fc: linear(x, D)
}
block other(x: [B, N, D], data: [B, M, D]) {
    return x + fc: linear(data[:, 0:N], D)
}
model m(n = 4, d = 8) {
    input x: [B, n, d]
    y = first: other(x, x)
    y = lat: repeat 1 shared step(y)
    y = cross: repeat 1 shared other(y, x)
    y = lat: repeat 2 shared step(y)
    y = cross: repeat 1 shared other(y, x)
    return lat: repeat 1 shared step(y)
}
"""


def test_weights_once_work_per_call(tmp_path):
    graph = compile_text(tmp_path, AGAIN)
    assert totals(graph).params == 3 * (8 * 8 + 8)  # first, lat, cross: one Linear(8, 8) each
    assert totals(graph).macs == (1 + 4 + 2) * 4 * 8 * 8  # 7 calls of a Linear on 4 tokens


def test_one_attribute_called_where_the_spec_calls_it(tmp_path):
    code = generate(compile_text(tmp_path, AGAIN), "spec.arch")
    assert code.count("self.lat = ") == 1 and code.count("self.cross = ") == 1
    calls = [line.strip() for line in code.splitlines() if "self.lat(" in line or "self.cross(" in line]
    assert calls == ["y = self.lat(y)", "y = self.cross(y, x)", "y = self.lat(y)", "y = self.cross(y, x)",
                     "return self.lat(y)"]  # fmt: skip
    assert "for _ in range(2):" in code  # the repeat of 2 loops


def test_one_report_row_per_module_with_all_its_calls(tmp_path):
    rows = [r for r in report_data(compile_text(tmp_path, AGAIN))["rows"] if r["depth"] == 0]
    assert [(r["layer"], r["kind"]) for r in rows] == [("first", "other"), ("lat", "shared x4"),
                                                      ("cross", "shared x2")]  # fmt: skip
    assert sum(r["macs"] for r in rows) == (1 + 4 + 2) * 4 * 8 * 8


def test_other_widths_are_an_error(tmp_path):
    text = AGAIN.replace("y = lat: repeat 2 shared step(y)", "y = lat: repeat 2 shared step(y[:, 0:2])")
    assert "a shared block is reused with other widths" in error_of(tmp_path, text)


def test_an_unshared_label_given_again_is_still_an_error(tmp_path):
    text = AGAIN.replace("y = lat: repeat 2 shared step(y)", "y = lat: repeat 2 step(y)")
    assert "label `lat` is used twice" in error_of(tmp_path, text)


def test_memory_is_that_of_the_same_calls_with_weights_of_their_own(tmp_path):
    """The calls of one module share a path; what each call holds lasts until that call ends, not the last one's."""
    own = AGAIN
    for label, n in (("lat:", 3), ("cross:", 2)):
        for i in range(n):
            own = own.replace(f" {label} repeat", f" {label[:-1]}_{i}: repeat", 1)
    assert "lat_2:" in own and "cross_1:" in own
    peaks = [report_data(compile_text(tmp_path, text))["memory"] for text in (AGAIN, own)]
    assert peaks[0]["inference_activation_peak_bytes"] == peaks[1]["inference_activation_peak_bytes"]


def test_a_block_graph_has_one_vertex_per_module(tmp_path):
    """Its calls make a cycle between the two shared modules: lat -> cross -> lat."""
    from archgraph.export import view

    shown = view(compile_text(tmp_path, AGAIN), "block")
    ids = [v.id for v in shown.vertices]
    assert len(ids) == len(set(ids)) and {"lat", "cross"} <= set(ids)
    assert ("lat", "cross", "") in shown.edges and ("cross", "lat", "") in shown.edges
