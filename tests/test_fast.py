"""The fast twins (octprofile.nn.fast) against the reference layers: same outputs, parameters and counts."""

import copy
import io
import math

import pytest
import torch
from torch import nn

from octprofile import build_model
from octprofile.analysis.counting import count_model
from octprofile.nn import OctBatchNorm2d, OctConv2d, OctPair, fast, upsample2x
from octprofile.nn.fast import FastConv2d, FastOctBatchNorm2d, FastOctConv2d, accelerate, add_upsampled_, foldable_pairs

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # float32, fast vs reference with the same weights
CONFIG_ATTRIBUTES = ("in_split", "out_split", "geometry", "alpha_in", "alpha_out", "depthwise", "exchange_hl",
                     "exchange_lh")


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


def check_layer(conv: OctConv2d, size: int = 9, batch: int = 2):
    """The accelerated copy of ``conv`` gives the reference output on the same input."""
    torch.manual_seed(1)
    x = octave_input(conv.in_split, size, batch)
    fast_conv = accelerate(copy.deepcopy(conv)).eval()
    assert type(fast_conv) is FastOctConv2d
    with torch.no_grad():
        assert_same(fast_conv(x), conv.eval()(x))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("alphas", [(0.5, 0.5), (0.0, 0.5), (0.5, 0.0), (0.25, 0.75), (0.75, 0.25)])
@pytest.mark.parametrize("kernel", [1, 3])
def test_dense_layers_match_the_reference(stride, alphas, kernel):
    torch.manual_seed(0)
    conv = OctConv2d(32, 48, kernel, stride, kernel // 2, alpha_in=alphas[0], alpha_out=alphas[1], bias=True)
    for size in (8, 9):  # even sizes take the broadcast upsample-add, odd ones the materialised one
        check_layer(conv, size)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("exchange", [(False, True), (True, False), (False, False)])
def test_disabled_paths_match_the_reference(stride, exchange):
    torch.manual_seed(0)
    conv = OctConv2d(16, 16, 3, stride, 1, alpha_in=0.5, alpha_out=0.5, exchange_hl=exchange[0],
                     exchange_lh=exchange[1])
    check_layer(conv)


@pytest.mark.parametrize("stride", [1, 2])
def test_grouped_and_depthwise_layers_match_the_reference(stride):
    torch.manual_seed(0)
    check_layer(OctConv2d(32, 32, 3, stride, 1, groups=4, alpha_in=0.5, alpha_out=0.5))
    check_layer(OctConv2d(24, 24, 3, stride, 1, groups=24, alpha_in=0.5, alpha_out=0.5, bias=True), size=11)


def test_dilated_layer_and_batch_one_match_the_reference():
    torch.manual_seed(0)
    check_layer(OctConv2d(16, 16, 3, 1, 2, dilation=2, alpha_in=0.5, alpha_out=0.5), size=12, batch=1)


@pytest.mark.parametrize("kernels", ["matmul", "onednn", "aten"])
def test_every_kernel_matches_the_reference(kernels, monkeypatch):
    """1x1 convs run as GEMMs on small maps and through oneDNN on large ones; other dtypes (and devices)
    go through F.conv2d. Each choice is forced in turn."""
    monkeypatch.setattr(fast, "MATMUL_MAX_ROWS", 10**9 if kernels == "matmul" else 0)
    torch.manual_seed(0)
    conv = OctConv2d(32, 32, 1, 1, 0, alpha_in=0.5, alpha_out=0.5, bias=True)
    if kernels == "aten":
        conv = conv.double()
        x = octave_input(conv.in_split, 8, 2)
        x = OctPair(x.high.double(), x.low.double())
        with torch.no_grad():
            assert_same(accelerate(copy.deepcopy(conv)).eval()(x), conv.eval()(x))
    else:
        check_layer(conv)


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
    fast_net = accelerate(copy.deepcopy(net))
    assert isinstance(fast_net.bn1, FastOctBatchNorm2d)
    x = torch.randn(2, 8, 10, 10)
    norm_calls = []
    batch_norm = torch.nn.functional.batch_norm
    monkeypatch.setattr(torch.nn.functional, "batch_norm", lambda *a, **k: norm_calls.append(1) or batch_norm(*a, **k))
    with torch.no_grad():
        want = net(x)
        assert len(norm_calls) == 3
        norm_calls.clear()
        assert_same(fast_net(x), want)
        assert_same(fast_net(x), want)  # second call: cached kernels
    assert norm_calls == []  # every norm was folded into its conv


def test_a_norm_whose_conv_output_is_read_elsewhere_is_not_folded():
    torch.manual_seed(0)
    net = ConvNormNet(tap=True).eval()
    assert foldable_pairs(net) == [("conv2", "bn2")]
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        assert_same(accelerate(copy.deepcopy(net))(x), net(x))


def test_untraceable_models_run_without_folding():
    class Branchy(ConvNormNet):
        def forward(self, x):
            return super().forward(x) if x.sum() > -1e9 else x  # data-dependent: fx cannot trace it

    torch.manual_seed(0)
    net = Branchy().eval()
    assert foldable_pairs(net) == []
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        assert_same(accelerate(copy.deepcopy(net))(x), net(x))


def test_caches_follow_weight_and_statistics_changes():
    torch.manual_seed(0)
    net = accelerate(ConvNormNet()).eval()
    reference = copy.deepcopy(net)
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        net(x)  # fills the caches
        for model in (net, reference):
            model.conv1.hh.weight.mul_(2.0)
            model.bn2.running_var.mul_(3.0)
        with torch.enable_grad():
            want = reference(x)  # grad mode: the reference formulas
        assert_same(net(x), want)
    net.load_state_dict(ConvNormNet().state_dict())
    reference.load_state_dict(net.state_dict())
    with torch.no_grad():
        got = net(x)
    assert_same(got, reference(x).detach())


def test_train_mode_and_autograd_use_the_reference_path():
    torch.manual_seed(0)
    net = ConvNormNet()
    fast_net = accelerate(copy.deepcopy(net))
    x = torch.randn(2, 8, 10, 10)
    assert_same(fast_net(x), net(x))  # training mode: batch statistics, running stats updated alike
    for a, b in zip(fast_net.buffers(), net.buffers(), strict=True):
        torch.testing.assert_close(a, b)
    fast_net.eval()
    net.eval()
    fast_net(x).sum().backward()  # eval with autograd: gradients reach every weight
    net(x).sum().backward()
    for (name, a), b in zip(fast_net.named_parameters(), net.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_copies_pickles_and_inference_tensors_work():
    torch.manual_seed(0)
    net = accelerate(ConvNormNet()).eval()
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        want = net(x)  # caches and folding marks now exist
    buffer = io.BytesIO()
    torch.save(net, buffer)
    buffer.seek(0)
    for other in (copy.deepcopy(net), torch.load(buffer, weights_only=False)):
        with torch.no_grad():
            assert_same(other(x), want)
    with torch.inference_mode():
        built_inside = accelerate(ConvNormNet()).eval()  # inference tensors: no version counters
        built_inside.load_state_dict(net.state_dict())
        assert_same(built_inside(x), want)


def test_build_model_returns_the_fast_twins_by_default():
    fast_model = build_model("resnet20_cifar", 0.5)
    reference = build_model("resnet20_cifar", 0.5, impl="reference")
    assert any(type(m) is FastOctConv2d for m in fast_model.modules())
    assert not any(type(m) in (FastOctConv2d, FastConv2d) for m in reference.modules())
    assert all(type(m) is not FastConv2d for m in build_model("resnet20_cifar").modules())  # vanilla untouched
    with pytest.raises(ValueError, match="'turbo'"):
        build_model("resnet20_cifar", 0.5, impl="turbo")


def test_fast_model_keeps_parameters_state_dict_and_counts():
    fast_model = build_model("resnet20_cifar", 0.5)
    reference = build_model("resnet20_cifar", 0.5, impl="reference")
    vanilla = build_model("resnet20_cifar")
    assert sum(p.numel() for p in fast_model.parameters()) == sum(p.numel() for p in vanilla.parameters())
    assert fast_model.state_dict().keys() == reference.state_dict().keys()
    for name, module in reference.named_modules():
        if isinstance(module, OctConv2d):
            twin = fast_model.get_submodule(name)
            assert all(getattr(twin, a) == getattr(module, a) for a in CONFIG_ATTRIBUTES)
    shape = (2, 3, 32, 32)
    fast_count, reference_count = count_model(fast_model, shape), count_model(reference, shape)
    assert fast_count.macs == reference_count.macs
    assert fast_count.other == reference_count.other


@pytest.mark.parametrize("name", ["resnet20_cifar", "mobilenet_v2"])
def test_whole_models_match_the_reference(name):
    torch.manual_seed(0)
    reference = build_model(name, 0.5, impl="reference").eval()
    for module in reference.modules():  # non-trivial statistics, so folding is really exercised
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    fast_model = build_model(name, 0.5).eval()
    fast_model.load_state_dict(reference.state_dict())
    size = 32 if name.endswith("cifar") else 96
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(fast_model(x), reference(x), **TOLERANCE)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_matches_the_reference():
    torch.manual_seed(0)
    reference = build_model("resnet20_cifar", 0.5, impl="reference").eval().cuda()
    fast_model = build_model("resnet20_cifar", 0.5).eval().cuda()
    fast_model.load_state_dict(reference.state_dict())
    x = torch.randn(4, 3, 32, 32, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(fast_model(x), reference(x), rtol=1e-3, atol=1e-3)
