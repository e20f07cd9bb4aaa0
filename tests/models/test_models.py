"""Backbones: registry, parameter parity, placement, alpha=0 identity, custom models."""

import pytest
import torch
import torchvision
from torch import nn

from octprofile import build_model, list_models, resolve
from octprofile.convert import ConversionError, vanilla_reasons_of
from octprofile.models import CustomModelError, UnknownModelError
from octprofile.nn import OctBatchNorm2d, OctConv2d, OctDesign, OctPair

TORCHVISION = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
               "resnext101_32x8d", "wide_resnet50_2", "mobilenet_v2", "densenet121"]
# The paper's Table 9 networks that torchvision has no builder for, and timm's model of the same definition.
TIMM_TWINS = {"resnet26": "resnet26", "resnet200": "resnet200", "resnext101_32x4d": "resnext101_32x4d",
              "se_resnet50": "seresnet50"}


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def octave_layers(model):
    return {name: (m.alpha_in, m.alpha_out) for name, m in model.named_modules() if isinstance(m, OctConv2d)}


def test_required_names_are_supported():
    required = set(TORCHVISION) | {"mobilenet_v1", "resnet20_cifar", "resnet44_cifar", "resnet56_cifar"}
    assert required <= set(list_models())


@pytest.mark.parametrize("name", TORCHVISION)
def test_vanilla_counts_equal_torchvision(name):
    with torch.device("meta"):
        theirs = getattr(torchvision.models, name)(weights=None)
    assert params(build_model(name, device="meta")) == params(theirs)


@pytest.mark.parametrize("name", TIMM_TWINS)
def test_table_9_networks_count_what_timm_counts(name):
    timm = pytest.importorskip("timm", reason="timm (extra 'timm') is not installed")
    with torch.device("meta"):
        theirs = timm.create_model(TIMM_TWINS[name], pretrained=False)
    assert params(build_model(name, device="meta")) == params(theirs)


def mobilenet_v1_params_by_hand(width_mult: float) -> int:
    widths = [int(c * width_mult) for c in (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)]
    total = 3 * widths[0] * 9 + 2 * widths[0]  # stem conv + BN
    for cin, cout in zip(widths, widths[1:]):
        total += cin * 9 + 2 * cin + cin * cout + 2 * cout  # depthwise + BN, pointwise + BN
    return total + widths[-1] * 1000 + 1000


@pytest.mark.parametrize("width_mult, published_millions", [(1.0, 4.232), (0.75, 2.6)])
def test_mobilenet_v1_width_and_parity(width_mult, published_millions):
    # published: d-li14/octconv.pytorch 4.232M (1.0); the paper's Table 5 2.6M (0.75)
    vanilla = build_model("mobilenet_v1", device="meta", width_mult=width_mult)
    assert params(vanilla) == mobilenet_v1_params_by_hand(width_mult)
    assert round(params(vanilla) / 1e6, len(str(published_millions)) - 2) == published_millions
    assert params(build_model("mobilenet_v1", 0.375, device="meta", width_mult=width_mult)) == params(vanilla)


def test_cifar_resnets_have_three_stages_of_16_32_64():
    model = build_model("resnet56_cifar", device="meta")
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3)] == [9, 9, 9]
    assert [getattr(model, f"layer{i}")[0].conv1.out_channels for i in (1, 2, 3)] == [16, 32, 64]
    assert resolve("resnet20_cifar").input_size == 32


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v1", "resnet20_cifar"])
def test_alpha_zero_is_bit_identical_to_the_vanilla_model(name):
    ours = build_model(name, 0.0, seed=0).eval()
    assert not any(isinstance(m, OctConv2d | OctBatchNorm2d) for m in ours.modules())
    size = resolve(name).input_size
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        if name in TORCHVISION:  # torchvision's own model, holding our weights, computes the same bits
            with torch.device("meta"):
                theirs = getattr(torchvision.models, name)(weights=None)
            theirs.load_state_dict(ours.state_dict(), assign=True)
            assert torch.equal(theirs.eval()(x), ours(x))
        else:  # the project's own builder, seeded alike
            theirs = resolve(name).build_vanilla()
            theirs.load_state_dict(ours.state_dict())
            assert torch.equal(theirs.eval()(x), ours(x))


def test_resnet50_reference_placement():
    layers = octave_layers(build_model("resnet50", 0.5, device="meta"))
    assert "conv1" not in layers  # stem vanilla
    assert layers["layer1.0.conv1"] == (0.0, 0.5) and layers["layer1.0.downsample.0"] == (0.0, 0.5)
    assert layers["layer1.0.conv2"] == (0.5, 0.5) and layers["layer3.5.conv3"] == (0.5, 0.5)
    assert layers["layer4.0.conv1"] == (0.5, 0.0) and layers["layer4.0.downsample.0"] == (0.5, 0.0)
    # the last stage is vanilla in channels, but its strided 3x3 conv pools first, as in the reference code
    assert layers["layer4.0.conv2"] == (0.0, 0.0)
    assert not any(name.startswith(("layer4.0.conv3", "layer4.1")) for name in layers)
    model = build_model("resnet50", 0.5, device="meta")
    assert model.layer2[0].conv2.geometry.stride == 2  # stride stays on the 3x3 conv
    assert model.layer4[0].conv2.route("hh") == (1, 1, False)  # one pool, then the conv at stride 1
    assert isinstance(model.layer1[0].bn1, OctBatchNorm2d) and isinstance(model.fc, nn.Linear)


def test_mobilenet_v1_reference_placement():
    layers = octave_layers(build_model("mobilenet_v1", 0.5, device="meta"))
    assert "blocks.0.depthwise.0" not in layers and layers["blocks.0.pointwise.0"] == (0.0, 0.5)
    assert layers["blocks.1.depthwise.0"] == (0.5, 0.5) and layers["blocks.10.pointwise.0"] == (0.5, 0.0)
    assert layers["blocks.11.depthwise.0"] == (0.0, 0.0)  # strided depthwise: pools first, as the reference
    assert not any(name.startswith(("blocks.11.pointwise", "blocks.12")) for name in layers)


def test_mobilenet_v2_reference_placement():
    layers = octave_layers(build_model("mobilenet_v2", 0.5, device="meta"))
    blocks = sorted({int(name.split(".")[1]) for name, alphas in layers.items() if alphas != (0.0, 0.0)})
    assert blocks == list(range(2, 14))  # first 13 blocks minus the one without expand conv
    assert [name for name, alphas in layers.items() if alphas == (0.0, 0.0)] == ["features.14.conv.1.0"]
    assert layers["features.2.conv.0.0"] == (0.0, 0.5)
    assert layers["features.2.conv.1.0"] == (0.5, 0.5)
    assert layers["features.2.conv.2"] == (0.5, 0.0)


def test_cifar_resnet_keeps_last_stage_vanilla():
    layers = octave_layers(build_model("resnet20_cifar", 0.5, device="meta"))
    assert layers["layer1.0.conv1"] == (0.0, 0.5) and layers["layer3.0.conv1"] == (0.5, 0.0)
    assert "layer3.1.conv1" not in layers


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v1", "mobilenet_v2", "resnet20_cifar"])
def test_everywhere_placement_runs_and_keeps_parity(name):
    octave = build_model(name, 0.5, placement="everywhere").eval()
    reference = build_model(name, 0.5, device="meta")
    assert len(octave_layers(octave)) > len(octave_layers(reference))
    assert params(octave) == params(build_model(name, device="meta"))
    size = resolve(name).input_size
    classes = 10 if name.endswith("cifar") else 1000
    assert octave(torch.randn(1, 3, size, size)).shape == (1, classes)


def test_strided_design_keeps_the_body_convs_strided():
    """The paper's strided ablation: no conv pools, so the vanilla strided convs stay torchvision's."""
    model = build_model("resnet50", 0.5, device="meta", design=OctDesign(downsample="strided"))
    assert type(model.layer4[0].conv2) is nn.Conv2d and model.layer4[0].conv2.stride == (2, 2)


def test_densenet_reference_placement():
    """As the reference DenseNet: octave stem, dense blocks 1-3 and their transitions, transition 3 leaves."""
    model = build_model("densenet121", 0.25, device="meta")
    layers = octave_layers(model)
    assert layers["features.conv0"] == (0.0, 0.25) and layers["features.transition3.conv"] == (0.25, 0.0)
    assert layers["features.denseblock3.denselayer24.conv2"] == (0.25, 0.25)
    assert not any(".denseblock4." in name for name in layers)
    # a concatenation's low part is the sum of its pieces': 64 / 4 stem + 5 x 32 / 4 growth
    norm = model.features.denseblock1.denselayer6.norm1
    assert isinstance(norm, OctBatchNorm2d) and (norm.split.channels, norm.split.low) == (224, 16 + 5 * 8)


def test_densenet_refuses_an_alpha_that_splits_concatenations_unevenly():
    with pytest.raises(ConversionError, match=r"alpha 0.3 is not: use a multiple of 1/32"):
        build_model("densenet121", 0.3, device="meta")


def test_se_resnet_squeezes_both_branches():
    """The SE block of an octave bottleneck pools both branches and scales each by its own channels' weights."""
    model = build_model("se_resnet50", 0.5, seed=0).eval()
    se = model.layer2[1].bn3[1]
    x = OctPair(torch.randn(2, 256, 8, 8), torch.randn(2, 256, 4, 4))
    with torch.no_grad():
        y = se(x)
        squeezed = torch.cat([x.high.mean((2, 3)), x.low.mean((2, 3))], 1)
        weights = torch.sigmoid(se.fc2(torch.relu(se.fc1(squeezed))))
    torch.testing.assert_close(y.high, x.high * weights[:, :256, None, None])
    torch.testing.assert_close(y.low, x.low * weights[:, 256:, None, None])


@pytest.mark.parametrize("size", [224, 225, 193])
def test_oct_resnet_runs_at_odd_sizes(size):
    model = build_model("resnet18", 0.5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 1000)


def test_custom_mnist_net_from_file_and_module(mnist_file):
    for reference in (mnist_file, "examples.mnist_net:mnist_net"):
        vanilla = build_model(reference)
        octave = build_model(reference, 0.5)
        assert params(octave) == params(vanilla)
        assert octave_layers(octave) == {"3": (0.0, 0.5), "4": (0.5, 0.0)}
        assert octave.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert resolve(mnist_file).input_size == 28


def test_unknown_layer_is_named(tmp_path):
    source = tmp_path / "odd.py"
    source.write_text(
        "from torch import nn\n"
        "def net():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1),\n"
        "                         nn.LocalResponseNorm(2), nn.Conv2d(8, 8, 3, padding=1),\n"
        "                         nn.Conv2d(8, 8, 3, padding=1))\n")
    model = build_model(f"{source}:net", 0.5, input_size=16)  # the chain is cut at the norm and goes on after it
    assert vanilla_reasons_of(model)["1"].kind == "cut"
    assert "'2' (LocalResponseNorm)" in vanilla_reasons_of(model)["1"].text


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="did you mean resnet50"):
        build_model("resnet05")


@pytest.mark.parametrize("body, message", [
    ("def net():\n    return 3\n", "not a torch.nn.Module"),
    ("def net():\n    raise RuntimeError('boom')\n", "raised RuntimeError: boom"),
    ("x = 1\n", "has no attribute 'net'"),
])
def test_custom_model_errors(tmp_path, body, message):
    source = tmp_path / "user.py"
    source.write_text(body)
    with pytest.raises(CustomModelError, match=message):
        build_model(f"{source}:net")


def test_missing_custom_file():
    with pytest.raises(CustomModelError, match="does not exist"):
        build_model("nowhere/model.py:net")


def test_meta_runs_still_check_batch_norm_channels():
    from octprofile.nn.meta import run_on_meta

    with pytest.raises(RuntimeError, match="batch norm over 4 channels"):
        run_on_meta(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4)), (1, 3, 8, 8))
