"""explain: analytic MACs per kind that add up exactly, bytes counted by hand, calls mapped to kinds, rows that
add up to the profiled pass, every format, and a backend without a profiler named in one line."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from torch import nn
from typer.testing import CliRunner

from octprofile.analysis.counting import count_model
from octprofile.analysis.op_kinds import UNATTRIBUTED, UNMATCHED_CONV, KindMap, op_kind
from octprofile.analysis.op_work import conv_kind, group_bytes, model_work
from octprofile.analysis.roofline import Ceilings
from octprofile.cli import app
from octprofile.errors import MissingEngineError
from octprofile.nn import OctConv2d
from octprofile.results import EXPLAIN_COLUMNS
from octprofile.runtime import profiling
from octprofile.runtime.onnx_backend import onnxruntime_available
from octprofile.runtime.timing import TimingOptions
from octprofile.study import Study

README = Path(__file__).resolve().parents[2] / "README.md"
QUICK = TimingOptions(device="cpu", threads=1, rounds=1, min_run_time=0.01, warmup=1, memory=False,
                      backends=("plain", "eager"))


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "resnet20_cifar"])
def test_macs_per_kind_add_up_to_the_analytic_total_exactly(name):
    study = Study(name)
    for alpha in (0.0, 0.5):
        model = study.build(alpha, device="meta")
        work = model_work(model, study.input_shape)
        total = count_model(model, study.input_shape).macs
        assert sum(cost.macs for cost in KindMap(work).costs().values()) == total
        # merged as the eager backend runs them: the paths into each branch as one call
        layers = {w.layer for w in work.convs if w.path}
        merged = {layer: ["hh+lh", "hl+ll"] for layer in layers}
        assert sum(cost.macs for cost in KindMap(work, merged).costs().values()) == total


def test_bytes_of_a_small_net_counted_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    work = model_work(net, (1, 3, 8, 8))
    conv1, conv2, linear = work.convs
    # float32: 4 bytes an element. conv1 reads 3·8·8, writes 8·8·8, reads 8·3·3·3 weights
    assert conv1.bytes == 4 * (192 + 512 + 216) and conv1.macs == 8 * 64 * 27
    # conv2 (1x1 on the 4x4 pooled map): reads 8·4·4, writes 4·4·4, weights 4·8 plus 4 biases
    assert conv2.bytes == 4 * (128 + 64 + 36) and conv2.macs == 4 * 16 * 8
    assert linear.bytes == 4 * (4 + 2 + 10) and linear.macs == 8
    # ReLU reads and writes 512; max pool reads 512, writes 128; global pool reads 64, writes 4
    assert work.op_bytes == {"rest": 4 * 1024, "pooling": 4 * (640 + 68)}
    assert [conv_kind([w]) for w in work.convs] == ["conv 3×3", "conv 1×1", "linear"]


def test_bytes_of_octave_paths_and_of_paths_merged_into_one_call():
    net = nn.Sequential(OctConv2d(8, 8, 1, alpha_in=0.0, alpha_out=0.5),
                        OctConv2d(8, 8, 1, alpha_in=0.5, alpha_out=0.5))
    work = model_work(net, (1, 8, 8, 8)).by_name()
    # second layer: X_H is 4·8·8 = 256 elements, X_L 4·4·4 = 64; each path's weight 4·4 = 16
    assert work["1.hh"].bytes == 4 * (256 + 256 + 16)
    assert work["1.hl"].bytes == 4 * (64 + 64 + 16)  # reads X_H pooled (4·4·4), writes Y_L (4·4·4)
    assert work["1.ll"].bytes == 4 * (64 + 64 + 16)
    assert work["1.lh"].bytes == 4 * (64 + 64 + 16)  # at X_L's size, upsampled after
    # as one call (eager's hl+ll): both inputs read once, Y_L written once, both weights
    assert group_bytes([work["1.hl"], work["1.ll"]]) == 4 * (64 + 64 + 64 + 32)
    assert conv_kind([work["1.hl"], work["1.ll"]]) == "conv H→L+L→L 1×1"


def test_op_names_of_every_engine_map_to_kinds():
    assert op_kind("aten::max_pool2d") == "pooling" and op_kind("AveragePool") == "pooling"
    assert op_kind("aten::upsample_nearest2d") == "upsampling" and op_kind("Upsample") == "upsampling"
    assert op_kind("aten::add_") == "addition" and op_kind("Add") == "addition"
    assert op_kind("aten::cat") == "concatenation" and op_kind("Concat") == "concatenation"
    assert {op_kind(n) for n in ("ReorderInput", "ReorderOutput", "Reorder", "aten::contiguous")} == {"layout"}
    assert op_kind("graph_0_cpp_fused_avg_pool2d_1") == "pooling"
    assert op_kind("graph_0_cpp_fused__native_batch_norm_legit_no_training_add_relu_3") == "fused"
    assert op_kind("aten::relu_") == "rest" and op_kind("Relu") == "rest"
    assert profiling.onnx_scope("/layer1/layer1.0/conv1/hh/Conv") == "layer1.0.conv1.hh"
    assert profiling.onnx_scope("ReorderInput_token_3") == ""


def test_roofline_places_compute_memory_and_overhead():
    ceilings = Ceilings(peak_gmacs_per_s=10.0, bandwidth_gb_per_s=10.0)  # 1 MAC per byte at the ridge
    assert ceilings.roofline_ms(10**7, 10**6) == pytest.approx(1.0)
    assert ceilings.place(10**7, 10**6, ms=1.5, calls=1) == "compute"
    assert ceilings.place(10**6, 10**7, ms=1.5, calls=1) == "memory"
    assert ceilings.place(10**3, 10**3, ms=0.05, calls=1) == "overhead"  # 0.1 µs of work in 50 µs
    assert ceilings.place(0, None, ms=1.0, calls=3) == ""


@pytest.fixture(scope="module")
def explained():
    backends = ("plain", "eager", *(("onnxruntime",) if onnxruntime_available() else ()))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return Study("resnet20_cifar").explain(0.5, TimingOptions(**{**QUICK.__dict__, "backends": backends}),
                                               passes=1)
    finally:
        torch.set_num_threads(threads)


def test_rows_add_up_to_the_profiled_pass_and_the_analytic_macs(explained):
    study = Study("resnet20_cifar")
    totals = {alpha: count_model(study.build(alpha, device="meta"), study.input_shape).macs for alpha in (0.0, 0.5)}
    for backend in explained.backends:
        rows, total = backend.rows, backend.total
        assert rows[-2].kind == UNATTRIBUTED and total.kind == "total"
        assert sum(r.time_ms for r in rows[:-1]) == pytest.approx(total.time_ms, rel=1e-9)
        assert sum(r.time_vanilla_ms for r in rows[:-1]) == pytest.approx(total.time_vanilla_ms, rel=1e-9)
        assert sum(r.macs for r in rows[:-1]) == total.macs == totals[0.5]
        assert sum(r.macs_vanilla for r in rows[:-1]) == total.macs_vanilla == totals[0.0]
        assert sum(r.excess_ms for r in rows[:-1]) == pytest.approx(total.excess_ms)
        assert total.unprofiled_ms > 0 and total.unprofiled_vanilla_ms > 0
        assert all(r.calls == 0 for r in rows if r.kind == UNMATCHED_CONV)
        kinds = {r.kind for r in backend.kinds() if r.calls}
        assert {"conv H→H 3×3", "pooling", "addition"} <= kinds | {"conv H→H+L→H 3×3"}
        assert [n.variant for n in backend.slowest].count("oct") == 10
    eager = next(b for b in explained.backends if b.backend == "eager")
    assert any("+" in r.kind and r.calls for r in eager.kinds())  # the merged plans are kinds of their own


def test_a_backend_without_a_profiler_gets_one_line(monkeypatch):
    monkeypatch.delitem(profiling.PROFILERS, "plain")
    with pytest.raises(MissingEngineError, match="'plain' has no per-op profiler"):
        profiling.profiler_for("plain")
    result = CliRunner().invoke(app, ["explain", "resnet20_cifar", "--backend", "plain", "--threads", "1"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def test_every_format_and_the_plot(tmp_path, mnist_file):
    args = ["explain", mnist_file, "--backend", "plain", "--threads", "1", "--rounds", "1", "--passes", "1"]
    plot = tmp_path / "explain.png"
    result = CliRunner().invoke(app, [*args, "--format", "csv", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == EXPLAIN_COLUMNS and rows[-1]["kind"] == "total"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "explain.json"
    assert CliRunner().invoke(app, [*args, "-o", str(out)]).exit_code == 0
    assert set(json.loads(out.read_text())[0]) == set(EXPLAIN_COLUMNS)
    for fmt in ("markdown", "latex"):
        rendered = CliRunner().invoke(app, [*args, "--format", fmt])
        assert rendered.exit_code == 0 and "unattributed" in rendered.stdout
    verbose = CliRunner().invoke(app, [*args, "--verbose"])
    assert "slowest calls, oct on plain:" in verbose.stdout


def test_readme_documents_every_explain_column():
    readme = README.read_text()
    section = readme[readme.index("### `explain` columns"):]
    section = section[:section.index("\n## ")]
    assert set(EXPLAIN_COLUMNS) <= set(re.findall(r"`([a-z_]+)`", section))
