"""Measured forward memory: sensible bounds and monotonicity, never exact platform-dependent numbers."""

import pytest
import torch
from torch import nn

import octprofile
from octprofile.runtime.memory import peak_forward_memory, peak_of_running_sum

FLOAT32 = 4
devices = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("device", devices)
def test_a_conv_needs_at_least_its_output(device):
    conv = nn.Conv2d(3, 16, 3, padding=1)
    peak = peak_forward_memory(conv, (1, 3, 32, 32), device)
    assert isinstance(peak, int)
    assert peak >= 16 * 32 * 32 * FLOAT32


@pytest.mark.parametrize("device", devices)
def test_a_larger_image_needs_more(device):
    # Same batch size on purpose: on CPU the batch size can switch the convolution algorithm
    # (im2col with a workspace at batch 1, oneDNN without one at batch 2), and with it the peak.
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    assert peak_forward_memory(model, (1, 3, 64, 64), device) > peak_forward_memory(model, (1, 3, 32, 32), device)


def test_a_pass_that_allocates_nothing_peaks_at_zero():
    assert peak_forward_memory(nn.Identity(), (1, 3, 8, 8)) == 0


def test_intermediates_count_even_when_freed_before_the_end():
    # The wide middle activation (64 channels) is freed before the pass ends, yet it sets the peak.
    model = nn.Sequential(nn.Conv2d(3, 64, 1), nn.Conv2d(64, 1, 1))
    assert peak_forward_memory(model, (1, 3, 32, 32)) >= 64 * 32 * 32 * FLOAT32


@pytest.mark.parametrize("backend", ["plain", "eager"])
def test_an_octave_model_is_measured_and_left_as_it_was(backend):
    model = octprofile.build_model("resnet20_cifar", 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # the stem's 16-channel 32x32 output exists at some point of the pass
    assert peak_forward_memory(model, (1, 3, 32, 32), backend=backend) >= 16 * 32 * 32 * FLOAT32
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_peak_of_running_sum():
    assert peak_of_running_sum([]) == 0
    assert peak_of_running_sum([5, 3, -5, 4, -7]) == 8
    assert peak_of_running_sum([-2, 1]) == 0


@pytest.mark.parametrize("name, alpha", [("resnet18", 0.0), ("resnet18", 0.5), ("resnet50", 0.5),
                                         ("mobilenet_v2", 0.0), ("mobilenet_v2", 0.5)])
def test_the_analytic_activation_peak_matches_a_measured_pass(name, alpha):
    from octprofile.analysis.memory import inference_memory

    model = octprofile.build_model(name, alpha, seed=0).eval()
    analytic = inference_memory(model, (2, 3, 224, 224)).peak_bytes
    measured = peak_forward_memory(model, (2, 3, 224, 224), backend="plain")
    # the real pass also holds what the analytic one cannot see (conv workspaces), and the allocator may
    # free a temporary before its last Python reference goes: the README states this tolerance
    assert 0.95 <= measured / analytic <= 1.15, (measured, analytic)


def test_the_low_part_of_the_peak_is_the_low_map_alive_at_that_moment():
    from octprofile.analysis.memory import inference_memory
    from octprofile.nn import OctConv2d

    # enter the octave, then a plain ReLU on the pair: at the peak the pair and its ReLU copy are alive
    enter = OctConv2d(3, 16, 3, alpha_in=0.0, alpha_out=0.5, padding=1, bias=False)
    memory = inference_memory(nn.Sequential(enter, nn.ReLU()), (1, 3, 8, 8))
    high, low = 8 * 8 * 8 * FLOAT32, 8 * 4 * 4 * FLOAT32
    assert memory.peak_low_bytes == 2 * low
    assert memory.peak_bytes >= 2 * (high + low)
    vanilla = inference_memory(nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()), (1, 3, 8, 8))
    assert vanilla.peak_low_bytes == 0


def test_compare_rows_carry_the_activation_peak():
    result = octprofile.compare("resnet20_cifar", 0.5, fvcore=False)
    vanilla, oct_row = result.row("vanilla"), result.row("oct")
    assert vanilla.activation_peak_low_bytes == 0 < oct_row.activation_peak_low_bytes < oct_row.activation_peak_bytes
    assert oct_row.activation_peak_ratio == pytest.approx(oct_row.activation_peak_bytes / vanilla.activation_peak_bytes)
    assert oct_row.activation_peak_bytes < oct_row.activation_bytes  # a peak, not the sum of every output


def test_the_peak_is_placed_in_the_module_that_reached_it():
    from octprofile.analysis.memory import inference_memory

    # conv (16 maps) then ReLU (a copy): the peak is reached when ReLU makes its output beside conv's
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 4, 1))
    assert inference_memory(model, (1, 3, 8, 8)).peak_at == "1"


def test_the_footer_says_where_the_peak_is_when_alpha_leaves_it_alone():
    from octprofile.studies.compare import peak_place

    # resnet18 at 224²: the stem's conv output and its batch norm copy (2 × 64×112×112 floats) are the peak;
    # in eval mode aten's batch norm returns empty statistics beside its output, as on the CPU
    result = octprofile.compare("resnet18", 0.5, fvcore=False)
    assert {row.activation_peak_at for row in result.rows} == {"bn1"}
    assert result.row("vanilla").activation_peak_bytes == 2 * 64 * 112 * 112 * FLOAT32
    line = peak_place(result)
    assert "in 'bn1' for every variant" in line and "oct: no low-frequency map is alive at the peak" in line
