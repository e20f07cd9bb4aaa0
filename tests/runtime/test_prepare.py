"""``prepare``: inference-only copies that give the reference outputs, follow every conv option, leave the
built model untouched and say what they copied."""

import copy
import math

import pytest
import torch
from torch import nn

from octprofile import build_model, prepare
from octprofile.nn import OctBatchNorm2d, OctConv2d, OctDesign, OctPair, upsample2x
from octprofile.runtime import kernels
from octprofile.runtime.folding import foldable_pairs
from octprofile.runtime.prepare import SNAPSHOT_NOTE
from octprofile.runtime.prepared_layers import (
    LowCatPlan,
    PathsPlan,
    PreparedConv2d,
    PreparedOctConv2d,
    StridedPlan,
    add_upsampled_,
)

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # float32, prepared vs reference with the same weights


def octave_input(split, size: int, batch: int):
    x_h = torch.randn(batch, split.high, size, size)
    if not split.low:
        return x_h
    return OctPair(x_h, torch.randn(batch, split.low, math.ceil(size / 2), math.ceil(size / 2)))


def as_tuple(y):
    return (y.high, y.low) if isinstance(y, OctPair) else (y,)


def assert_same(got, want):
    for g, w in zip(as_tuple(got), as_tuple(want), strict=True):
        torch.testing.assert_close(g, w, **TOLERANCE)


def prepared_output(layer: nn.Module, x):
    """``layer`` prepared by the eager backend, run on ``x`` (a tensor or an octave pair)."""
    example = x.high if isinstance(x, OctPair) else x
    return prepare(layer, example, "eager").runner(x)


def check_layer(conv: OctConv2d, size: int = 9, batch: int = 2):
    torch.manual_seed(1)
    x = octave_input(conv.in_split, size, batch)
    with torch.no_grad():
        assert_same(prepared_output(conv, x), conv.eval()(x))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("alphas", [(0.5, 0.5), (0.0, 0.5), (0.5, 0.0), (0.25, 0.75)])
@pytest.mark.parametrize("kernel", [1, 3])
def test_dense_octave_layers_match_the_reference(stride, alphas, kernel):
    torch.manual_seed(0)
    conv = OctConv2d(32, 48, kernel, stride, kernel // 2, alpha_in=alphas[0], alpha_out=alphas[1], bias=True)
    for size in (8, 9):  # even sizes take the broadcast upsample-add, odd ones the materialised one
        check_layer(conv, size)


@pytest.mark.parametrize("stride, design, plan", [
    (1, OctDesign(), LowCatPlan), (1, OctDesign(lh=False), LowCatPlan), (1, OctDesign(hl=False), PathsPlan),
    (2, OctDesign(), StridedPlan), (2, OctDesign(hl=False, lh=False), PathsPlan),
    (1, OctDesign(downsample="strided"), PathsPlan), (2, OctDesign(downsample="strided"), PathsPlan)])
def test_each_configuration_takes_its_plan(stride, design, plan):
    conv = OctConv2d(16, 16, 3, stride, 1, alpha_in=0.5, alpha_out=0.5, design=design)
    x = octave_input(conv.in_split, 8, 1)
    prepared = prepare(conv, x.high, "eager")
    prepared.runner(x)
    layer = prepared.module[0]
    assert [type(made) for made in layer._plans._made.values()] == [plan]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("design", [OctDesign(hl=False), OctDesign(lh=False), OctDesign(hl=False, lh=False),
                                    OctDesign(downsample="strided"), OctDesign(lh=False, downsample="strided")])
@pytest.mark.parametrize("alphas", [(0.5, 0.5), (0.5, 0.25)])
def test_ablated_designs_match_the_reference(stride, design, alphas):
    torch.manual_seed(0)
    check_layer(OctConv2d(16, 16, 3, stride, 1, alpha_in=alphas[0], alpha_out=alphas[1], bias=True, design=design))


@pytest.mark.parametrize("stride", [1, 2])
def test_grouped_depthwise_and_dilated_octave_layers_match_the_reference(stride):
    torch.manual_seed(0)
    check_layer(OctConv2d(32, 32, 3, stride, 1, groups=4, alpha_in=0.5, alpha_out=0.5))
    check_layer(OctConv2d(24, 24, 3, stride, 1, groups=24, alpha_in=0.5, alpha_out=0.5, bias=True), size=11)
    check_layer(OctConv2d(16, 16, 3, stride, 2, dilation=2, alpha_in=0.5, alpha_out=0.5), size=12, batch=1)


@pytest.mark.parametrize("kernel", ["matmul", "onednn", "aten"])
def test_every_kernel_matches_the_reference(kernel, monkeypatch):
    """1x1 convs run as GEMMs on small maps and through oneDNN on large ones; other dtypes (and devices)
    go through F.conv2d. Each choice is forced in turn, and checked to be the one taken."""
    monkeypatch.setattr(kernels, "MATMUL_MAX_ROWS", 10**9 if kernel == "matmul" else 0)
    monkeypatch.setattr(kernels, "ONEDNN_MIN_INPUT", 0)
    torch.manual_seed(0)
    conv = OctConv2d(32, 32, 1, 1, 0, alpha_in=0.5, alpha_out=0.5, bias=True)
    dtype = torch.float64 if kernel == "aten" else torch.float32
    conv = conv.to(dtype).eval()
    x = octave_input(conv.in_split, 8, 2)
    x = OctPair(x.high.to(dtype), x.low.to(dtype))
    prepared = prepare(conv, x.high, "eager")
    with torch.no_grad():
        assert_same(prepared.runner(x), conv(x))
    layer = prepared.module[0]
    plan = next(iter(layer._plans._made.values()))
    expected = {"matmul": kernels.MatmulKernel, "onednn": kernels.OneDNNKernel, "aten": kernels.ATenKernel}[kernel]
    assert all(type(k) is expected for k in plan.kernels.values())


# Every option of nn.Conv2d that a prepared conv must follow, including those the fast kernels do not take
# (string padding, padding modes, a 1x1 conv with padding).
CONV_OPTIONS = [
    dict(kernel_size=1, padding=1),
    dict(kernel_size=3, padding=(1, 2)),
    dict(kernel_size=3, padding="same", dilation=2),
    dict(kernel_size=(3, 1), padding="valid"),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=2, padding_mode="replicate", stride=2),
    dict(kernel_size=3, padding=1, padding_mode="circular", dilation=1),
    dict(kernel_size=3, padding=2, dilation=2, groups=4, bias=False),
    dict(kernel_size=3, padding=1, groups=16, stride=(2, 1)),
    dict(kernel_size=5, padding=0, stride=3),
]


@pytest.mark.parametrize("options", CONV_OPTIONS, ids=[str(o) for o in CONV_OPTIONS])
@pytest.mark.parametrize("batch", [1, 3])
def test_a_prepared_conv_follows_every_option_of_the_conv_it_replaces(options, batch):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 16, **options).eval()
    x = torch.randn(batch, 16, 12, 12)
    with torch.no_grad():
        want = conv(x)
        got = prepared_output(conv, x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, **TOLERANCE)


def test_upsample_add_in_place_equals_materialised_upsampling():
    for size in ((8, 8), (7, 9)):
        y = torch.randn(2, 3, *size).contiguous(memory_format=torch.channels_last)
        q = torch.randn(2, 3, (size[0] + 1) // 2, (size[1] + 1) // 2)
        want = y + upsample2x(q, y.shape[-2:])
        assert add_upsampled_(y, q) is y
        torch.testing.assert_close(y, want)


class ConvNormNet(nn.Module):
    """An octave conv -> norm -> relu chain ending in a vanilla conv and norm; ``tap`` adds a second
    consumer of the first conv's output, which forbids folding its norm."""

    def __init__(self, tap: bool = False) -> None:
        super().__init__()
        self.tap = tap
        self.conv1 = OctConv2d(8, 16, 3, 1, 1, alpha_in=0.0, alpha_out=0.5)
        self.bn1 = OctBatchNorm2d(self.conv1.out_split)
        self.conv2 = OctConv2d(16, 16, 3, 2, 1, alpha_in=0.5, alpha_out=0.0, bias=True)
        self.bn2 = nn.BatchNorm2d(16)
        for bn in (self.bn1.high, self.bn1.low, self.bn2):
            nn.init.uniform_(bn.weight, 0.5, 1.5)
            nn.init.uniform_(bn.bias, -0.5, 0.5)
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        y = self.conv1(x)
        z = torch.relu(self.bn1(y))
        if self.tap:
            z = z + y
        return self.bn2(self.conv2(z))


def test_norms_fold_into_their_convs_and_match(monkeypatch):
    torch.manual_seed(0)
    net = ConvNormNet().eval()
    assert foldable_pairs(net) == [("conv1", "bn1"), ("conv2", "bn2")]
    prepared = prepare(net, torch.zeros(1), "eager")
    assert isinstance(prepared.module.conv1, PreparedOctConv2d) and isinstance(prepared.module.bn1, nn.Identity)
    assert "2 batch norms folded into their convs" in prepared.notes
    x = torch.randn(2, 8, 10, 10)
    norm_calls = []
    batch_norm = torch.nn.functional.batch_norm
    monkeypatch.setattr(torch.nn.functional, "batch_norm", lambda *a, **k: norm_calls.append(1) or batch_norm(*a, **k))
    with torch.no_grad():
        want = net(x)
        assert len(norm_calls) == 3
        norm_calls.clear()
        assert_same(prepared(x), want)
        assert_same(prepared(x), want)  # second call: cached kernels
    assert norm_calls == []  # every norm was folded into its conv


def test_a_norm_whose_conv_output_is_read_elsewhere_is_not_folded():
    torch.manual_seed(0)
    net = ConvNormNet(tap=True).eval()
    assert foldable_pairs(net) == [("conv2", "bn2")]
    x = torch.randn(2, 8, 10, 10)
    prepared = prepare(net, x, "eager")
    assert isinstance(prepared.module.bn1, OctBatchNorm2d)
    with torch.no_grad():
        assert_same(prepared(x), net(x))


def test_untraceable_models_run_without_folding():
    class Branchy(ConvNormNet):
        def forward(self, x):
            return super().forward(x) if x.sum() > -1e9 else x  # data-dependent: fx cannot trace it

    torch.manual_seed(0)
    net = Branchy().eval()
    assert foldable_pairs(net) == []
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        assert_same(prepare(net, x, "eager")(x), net(x))


def test_prepare_leaves_the_model_untouched_and_is_a_snapshot():
    """Documented: a prepared copy holds the weights of the moment it was made; later writes to the
    source (the ``.data`` idioms of init, EMA and surgery included) do not reach it."""
    torch.manual_seed(0)
    net = ConvNormNet()  # training mode, as built
    before = copy.deepcopy(net.state_dict())
    classes = [type(m) for m in net.modules()]
    x = torch.randn(2, 8, 10, 10)
    prepared = prepare(net, x, "eager")
    assert net.training and [type(m) for m in net.modules()] == classes
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert SNAPSHOT_NOTE in prepared.notes
    with torch.no_grad():
        want = net.eval()(x)
    assert_same(prepared(x), want)
    net.conv1.hh.weight.data.mul_(2.0)
    net.bn2.running_var.data.mul_(3.0)
    assert_same(prepared(x), want)  # the snapshot
    with torch.no_grad():
        changed = net(x)
    assert (changed - want).abs().max() > 1e-2  # the source did change...
    assert_same(prepare(net, x, "eager")(x), changed)  # ...and preparing again sees it


@pytest.mark.parametrize("name", ["resnet20_cifar", "mobilenet_v2"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_whole_models_match_the_reference(name, alpha):
    torch.manual_seed(0)
    model = build_model(name, alpha, seed=0).eval()
    for module in model.modules():  # non-trivial statistics, so folding is really exercised
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    size = 32 if name.endswith("cifar") else 64
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        want = model(x)
    for backend in ("plain", "eager"):
        prepared = prepare(model, x, backend)
        torch.testing.assert_close(prepared(prepared.adapt(x)), want, **TOLERANCE)
    layers = [type(m) for m in prepare(model, x, "eager").module.modules()]
    assert nn.Conv2d not in layers and OctConv2d not in layers and nn.BatchNorm2d not in layers[:3]
    assert PreparedConv2d in layers


class _OneConv(nn.Module):
    """A class of its own: dynamo's cache for its forward holds only this test's models."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).relu()


def test_compile_never_falls_back_to_eager_silently(monkeypatch):
    import importlib

    from octprofile.errors import ConversionError

    preparing = importlib.import_module("octprofile.runtime.prepare")  # the module, not the function
    from torch._dynamo.utils import counters

    x = torch.randn(1, 3, 8, 8)
    for _ in range(3):  # several models of one class in one process: each really compiled
        prepared = prepare(_OneConv(), x, "compile")
        graphs = counters["stats"]["unique_graphs"]
        prepared(prepared.adapt(x))
        assert counters["stats"]["unique_graphs"] == graphs  # compiled once, in prepare; never again when run
    monkeypatch.setattr(preparing, "COMPILE_CACHE_LIMIT", 3)  # the cache for _OneConv.forward is now full
    with pytest.raises(ConversionError, match="fell back to eager"):
        prepare(_OneConv(), x, "compile")


def test_compile_backend_matches_and_reports_its_compile_time():
    torch.manual_seed(0)
    net = ConvNormNet().eval()
    x = torch.randn(2, 8, 10, 10)
    prepared = prepare(net, x, "compile")
    assert prepared.prepare_seconds > 0
    with torch.no_grad():
        assert_same(prepared(prepared.adapt(x)), net(x))


def test_bad_backends_and_meta_models_are_refused():
    with pytest.raises(ValueError, match="unknown backend 'turbo'"):
        prepare(nn.Conv2d(1, 1, 1), torch.zeros(1, 1, 2, 2), "turbo")
    with pytest.raises(ValueError, match="meta tensors"):
        prepare(build_model("resnet20_cifar", device="meta"), torch.zeros(1, 3, 32, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_matches_the_reference():
    model = build_model("resnet20_cifar", 0.5, seed=0).eval().cuda()
    x = torch.randn(4, 3, 32, 32, device="cuda")
    with torch.no_grad():
        want = model(x)
    for backend in ("plain", "eager"):
        prepared = prepare(model, x, backend)
        torch.testing.assert_close(prepared(prepared.adapt(x)), want, rtol=1e-3, atol=1e-3)
