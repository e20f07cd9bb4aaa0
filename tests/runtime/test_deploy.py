"""The deploy form: the built model's function, with batch norms folded (vanilla and Oct) and the octave
paths merged into ordinary convs that graph compilers see; the same weights, so the same MACs."""

import copy

import pytest
import torch
from random_norms import randomise_norms
from torch import nn

from octprofile import build_model
from octprofile.nn import OctBatchNorm2d, OctConv2d, OctDesign, OctPair
from octprofile.runtime.deploy import LowCatOctConv2d, StridedOctConv2d, deploy_form

TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}



@pytest.mark.parametrize(("name", "alpha", "design", "size"), [
    ("resnet20_cifar", 0.0, "full", 32),
    ("resnet20_cifar", 0.5, "full", 32),
    ("resnet20_cifar", 0.25, "full", 31),  # odd sides: ceil-mode pools and cropped upsampling
    ("resnet20_cifar", 0.5, "no-hl", 32),
    ("resnet20_cifar", 0.5, "no-lh+strided", 32),
    ("mobilenet_v2", 0.5, "full", 64),
    ("resnet18", 0.5, "full", 64),
])
def test_the_deploy_form_computes_the_built_model(name, alpha, design, size):
    model = randomise_norms(build_model(name, alpha, seed=0, design=OctDesign.parse(design))).eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    deployed, notes = deploy_form(copy.deepcopy(model))
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), model(x), **TOLERANCE)
    assert not any(isinstance(m, nn.BatchNorm2d | OctBatchNorm2d) for m in deployed.modules())
    assert notes[0].startswith("deploy form:")


def test_merged_convs_hold_exactly_the_paths_weights():
    model = build_model("resnet18", 0.5, seed=0).eval()
    deployed, _ = deploy_form(copy.deepcopy(model))
    built = dict(model.named_modules())
    merged = 0
    for name, module in deployed.named_modules():
        if isinstance(module, LowCatOctConv2d | StridedOctConv2d):
            paths = built[name].paths()
            # a conv over concatenated inputs holds the paths' weights side by side: as many as they had
            assert sum(p.numel() for p in module.parameters() if p.dim() == 4) == sum(
                p.weight.numel() for p in paths.values())
            merged += 1
    assert merged > 0
    assert sum(isinstance(m, LowCatOctConv2d) for m in deployed.modules()) > 0
    assert sum(isinstance(m, StridedOctConv2d) for m in deployed.modules()) > 0


def test_a_low_cat_layer_is_one_conv_over_the_pooled_high_and_the_low_map():
    conv = OctConv2d(8, 8, 3, padding=1, alpha_in=0.5, alpha_out=0.5).eval()
    deployed, _ = deploy_form(nn.Sequential(copy.deepcopy(conv)))
    layer = deployed[0]
    assert isinstance(layer, LowCatOctConv2d)
    x_h, x_l = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)
    # independent: Y_L = W_HL * pool(X_H) + W_LL * X_L as one conv over the concatenation
    pooled = torch.nn.functional.avg_pool2d(x_h, 2)
    want_low = torch.nn.functional.conv2d(torch.cat([pooled, x_l], 1),
                                          torch.cat([conv.hl.weight, conv.ll.weight], 1), padding=1)
    want_high = (torch.nn.functional.conv2d(x_h, conv.hh.weight, padding=1)
                 + torch.nn.functional.conv2d(x_l, conv.lh.weight, padding=1).repeat_interleave(2, 2)
                 .repeat_interleave(2, 3))
    with torch.no_grad():
        got = layer(OctPair(x_h, x_l))
    torch.testing.assert_close(got.low, want_low, **TOLERANCE)
    torch.testing.assert_close(got.high, want_high, **TOLERANCE)


def test_the_built_model_is_untouched_when_deploying_a_copy():
    model = build_model("resnet20_cifar", 0.5, seed=0).eval()
    before = copy.deepcopy(model.state_dict())
    deploy_form(copy.deepcopy(model))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("backend", ["eager", "deploy"])
def test_ranges_of_channels_run_in_the_runtime_forms(backend):
    """The pairs the prepared and merged convs return carry the split rule, so the blocks that slice or split them
    (ReXNet's partial residual, Res2Net's split) run there as in the built model."""
    from channel_nets import PartialResidual, Res2Block, chain_net

    from octprofile.convert import convert
    from octprofile.runtime.prepare import prepare

    torch.manual_seed(0)
    net = chain_net(Res2Block(), nn.Conv2d(24, 16, 1), PartialResidual(), channels=24, last=27)
    model = randomise_norms(convert(net, 0.5, "chain", (1, 3, 16, 16))).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x)
        got = deploy_form(copy.deepcopy(model))[0](x) if backend == "deploy" else prepare(model, x, "eager").runner(x)
    torch.testing.assert_close(got, want, **TOLERANCE)
