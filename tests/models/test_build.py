"""A built model is what it looks like: plain modules with reference semantics, whatever the context it was
built in, that every counter, hook and state_dict reader sees as it is."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from octprofile import build_model, count_model
from octprofile.nn import OctBatchNorm2d, OctConv2d

SHAPE = (2, 3, 64, 64)


@pytest.fixture(scope="module")
def oct_resnet18():
    return build_model("resnet18", 0.5, seed=0).eval()


def test_only_plain_and_octave_modules_are_built(oct_resnet18):
    kinds = {type(m).__module__.split(".")[0] for m in oct_resnet18.modules()}
    assert kinds == {"torch", "torchvision", "octprofile"}
    octave = {type(m) for m in oct_resnet18.modules() if type(m).__module__.startswith("octprofile")}
    assert octave == {OctConv2d, OctBatchNorm2d}


@pytest.mark.parametrize("grad", [True, False])
def test_flop_counter_on_a_real_model_equals_the_analytic_count(oct_resnet18, grad):
    x = torch.randn(SHAPE)
    with torch.set_grad_enabled(grad), FlopCounterMode(display=False) as counter:
        oct_resnet18(x)
    assert counter.get_total_flops() == 2 * count_model(oct_resnet18, SHAPE).macs


def test_a_hook_on_a_norm_sees_the_normalised_conv_output(oct_resnet18):
    seen = {}
    block = oct_resnet18.layer2[1]
    handles = [block.conv1.register_forward_hook(lambda m, i, o: seen.update(conv=o)),
               block.bn1.register_forward_hook(lambda m, i, o: seen.update(bn=o))]
    with torch.no_grad():
        oct_resnet18(torch.randn(SHAPE))
        want = block.bn1(seen["conv"])
    for handle in handles:
        handle.remove()
    torch.testing.assert_close(seen["bn"].high, want.high, rtol=0, atol=0)
    torch.testing.assert_close(seen["bn"].low, want.low, rtol=0, atol=0)
    assert not torch.equal(seen["bn"].high, seen["conv"].high)  # the norm really ran


def test_state_dict_holds_the_vanilla_weights_split_by_path():
    """The reference implementation's layout: each path is the vanilla weight's block for its channels,
    each branch norm the vanilla norm's slice."""
    vanilla = build_model("resnet18", seed=0).state_dict()
    octave = build_model("resnet18", 0.5, seed=0).state_dict()
    def tensor_elements(state):  # an octave norm has two batch counters where the vanilla one has one
        return sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))

    assert tensor_elements(octave) == tensor_elements(vanilla)
    high = 128 - 64  # layer2 has 128 channels, 64 of them low at alpha 0.5
    weight = vanilla["layer2.1.conv1.weight"]
    torch.testing.assert_close(octave["layer2.1.conv1.hh.weight"], weight[:high, :high], rtol=0, atol=0)
    torch.testing.assert_close(octave["layer2.1.conv1.hl.weight"], weight[high:, :high], rtol=0, atol=0)
    torch.testing.assert_close(octave["layer2.1.conv1.lh.weight"], weight[:high, high:], rtol=0, atol=0)
    torch.testing.assert_close(octave["layer2.1.conv1.ll.weight"], weight[high:, high:], rtol=0, atol=0)
    torch.testing.assert_close(octave["layer2.1.bn1.low.running_var"], vanilla["layer2.1.bn1.running_var"][high:],
                               rtol=0, atol=0)
    vanilla_only = {k for k in octave if k in vanilla}
    assert {k.rsplit(".", 1)[0] for k in vanilla_only} >= {"conv1", "bn1", "fc", "layer4.1.conv2"}


def test_a_model_built_under_inference_mode_is_the_same_model():
    outside = build_model("resnet20_cifar", 0.5, seed=0).eval()
    with torch.inference_mode():
        inside = build_model("resnet20_cifar", 0.5, seed=0).eval()
    assert [type(m) for m in inside.modules()] == [type(m) for m in outside.modules()]
    assert inside.state_dict().keys() == outside.state_dict().keys()
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(inside(x), outside(x), rtol=0, atol=0)


def test_seed_gives_the_same_weights_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model("resnet20_cifar", 0.5, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    second = build_model("resnet20_cifar", 0.5, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_a_training_step_reaches_every_parameter():
    model = build_model("resnet20_cifar", 0.5, seed=0)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
