"""Training cost: forward + backward MACs against FlopCounterMode and hand counts, what autograd keeps (analytic
on the meta device against hooks on real tensors and hand counts), peak memory against a measured step, the
largest batch, budgets, and refusals before any allocation."""

import pytest
import torch
from conftest import meta_model
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from octprofile.analysis.counting import count_model
from octprofile.analysis.memory import inference_memory
from octprofile.analysis.training import (
    HEADROOM,
    MEASURED_TOLERANCE,
    TrainingPeaks,
    count_training,
    largest_batch,
    largest_batch_of,
    training_flop_counter,
)
from octprofile.errors import BadValueError, ResourceError
from octprofile.runtime.budget import parse_memory
from octprofile.runtime.training import StepOptions, TrainStep, measure_step_peak
from octprofile.study import Study, StudyOptions

FLOAT32 = 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _training(name: str, alpha: float, shape: tuple[int, ...], **options):
    model = meta_model(name, alpha, **options)
    return model, count_training(model, count_model(model, shape))


@pytest.mark.parametrize("name, alpha, size", [
    ("resnet20_cifar", 0.0, 32), ("resnet20_cifar", 0.5, 32), ("resnet18", 0.25, 64), ("resnet18", 0.75, 64),
    ("mobilenet_v2", 0.5, 64), ("mobilenet_v1", 0.25, 64),
])
def test_analytic_training_macs_equal_the_traced_ones(name, alpha, size):
    shape = (2, 3, size, size)
    _, training = _training(name, alpha, shape)
    assert training.flops_traced == 2 * training.macs
    # the first layer needs no input gradient, every other one does: 3x forward less the first layer's forward
    first = next(iter(training.layer_macs.values()))
    assert training.macs == 3 * training.forward_macs - first
    assert list(training.input_grad.values()).count(False) == 1


def test_ungrouped_models_agree_with_torchs_own_formula_too():
    # the grouped-conv correction changes nothing where there are no groups
    model = meta_model("resnet20_cifar", 0.5)
    _, training = _training("resnet20_cifar", 0.5, (2, 3, 32, 32))
    x = torch.empty((2, 3, 32, 32), device="meta")
    with FlopCounterMode(display=False) as stock:
        model.train()
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    assert stock.get_total_flops() == training.flops_traced


def test_a_depthwise_weight_gradient_is_counted_once():
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, device="meta")
    x = torch.empty((2, 8, 16, 16), device="meta", requires_grad=True)
    with training_flop_counter() as counter:
        conv(x).sum().backward()
    forward = 8 * 9 * 2 * 16 * 16  # channels x kernel x batch x output pixels, one input channel per group
    assert counter.get_total_flops() == 2 * 3 * forward  # forward, input gradient, weight gradient


def test_what_autograd_keeps_matches_a_hand_count():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                          nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(4 * 16 * 16, 10)).to("meta")
    training = count_training(model, count_model(model, (2, 3, 16, 16)))
    conv_out = 2 * 8 * 16 * 16 * FLOAT32
    # batch norm keeps the conv output and its per-channel mean and inverse std; the in-place ReLU keeps its
    # result, which the second conv reads (one storage); the linear layer keeps its input, the second conv's output
    linear_in = 2 * 4 * 16 * 16 * FLOAT32
    assert training.saved.high_bytes == 2 * conv_out + 2 * 8 * FLOAT32 + linear_in
    assert training.saved.low_bytes == 0


def test_octave_models_keep_less_and_part_of_it_on_the_low_grid():
    shape = (4, 3, 32, 32)
    _, vanilla = _training("resnet20_cifar", 0.0, shape)
    _, octave = _training("resnet20_cifar", 0.5, shape)
    assert vanilla.saved.low_bytes == 0 and octave.saved.low_bytes > 0
    assert octave.saved.total_bytes < vanilla.saved.total_bytes
    assert octave.peak_bytes < vanilla.peak_bytes
    # SGD with momentum: one buffer per trainable weight; gradients as large as the weights
    assert vanilla.optimizer_state_bytes == vanilla.gradient_bytes == sum(
        p.numel() for p in meta_model("resnet20_cifar", 0.0).parameters()) * FLOAT32


def test_adamw_keeps_two_moments():
    model = meta_model("resnet20_cifar", 0.0)
    training = count_training(model, count_model(model, (2, 3, 32, 32)), "adamw")
    params = sum(p.numel() for p in model.parameters())
    steps = len(list(model.parameters()))  # one step count per weight tensor
    assert training.optimizer_state_bytes == 2 * params * FLOAT32 + steps * FLOAT32


def test_analytic_and_measured_saved_tensors_agree_on_a_real_step():
    shape = (4, 3, 32, 32)
    study = Study("resnet20_cifar", StudyOptions(batch_size=4))
    _, analytic = _training("resnet20_cifar", 0.5, shape)
    step = TrainStep(study.build(0.5), shape, torch.device("cpu"), "sgd")
    step()
    assert step.saved_activations() == analytic.saved


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_a_measured_peak_falls_within_the_stated_tolerance(alpha):
    shape = (8, 3, 32, 32)
    _, analytic = _training("resnet20_cifar", alpha, shape)
    step = TrainStep(Study("resnet20_cifar").build(alpha), shape, torch.device("cpu"), "sgd")
    step()
    assert step.resident_bytes() == analytic.resident_bytes
    low, high = MEASURED_TOLERANCE
    assert low <= measure_step_peak(step) / analytic.peak_bytes <= high


def test_inference_memory_is_the_live_peak_not_the_sum_of_outputs():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
    memory = inference_memory(model, (1, 3, 8, 8))
    one_map = 16 * 8 * 8 * FLOAT32
    # conv1's output is freed once ReLU has made its own: at most two maps are alive at once
    assert memory.peak_bytes == 2 * one_map and memory.allocated_bytes == 3 * one_map


def test_largest_batch_solves_a_linear_and_a_kinked_peak():
    def linear(batch):
        return 1000 + 300 * batch

    fit = largest_batch(linear, 100_000)
    assert linear(fit.batch_size) * HEADROOM <= 100_000 < linear(fit.batch_size + 1) * HEADROOM

    def kinked(batch):  # the optimizer update sets the peak at small batches
        return max(50_000, 1000 + 300 * batch)

    fit = largest_batch(kinked, 100_000)
    assert kinked(fit.batch_size) * HEADROOM <= 100_000 < kinked(fit.batch_size + 1) * HEADROOM
    assert largest_batch(kinked, 10_000).batch_size == 0


def test_the_largest_batch_of_a_model_fits_and_one_more_does_not():
    study = Study("resnet20_cifar", StudyOptions(batch_size=2))
    budget = parse_memory("64MiB")
    result = study.train(0.5, steps=None, memory_budget=budget)
    for row in result.rows:
        model = meta_model("resnet20_cifar", row.alpha)
        peak = {b: count_training(model, count_model(model, (b, 3, 32, 32))).peak_bytes
                for b in (row.max_batch_size, row.max_batch_size + 1)}
        assert peak[row.max_batch_size] == row.max_batch_peak_bytes
        assert peak[row.max_batch_size] * HEADROOM <= budget < peak[row.max_batch_size + 1] * HEADROOM


class _PerSample(nn.Module):
    """Runs its conv once per sample: its ops, not only its shapes, depend on the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.conv(sample[None]) for sample in x]).mean((2, 3))


@pytest.mark.parametrize("model", [nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3),
                                                 nn.Flatten(), nn.LazyLinear(10)), _PerSample()],
                         ids=["fixed ops", "ops per sample"])
def test_the_predicted_training_peak_is_the_measured_one_or_measuring_takes_over(model):
    model(torch.zeros(1, 3, 8, 8))  # settles the lazy layer
    model = model.to("meta")
    peaks = TrainingPeaks(model, (3, 8, 8))
    measured = {b: count_training(model, count_model(model, (b, 3, 8, 8))).peak_bytes for b in (1, 2, 5, 37)}
    predictable = isinstance(model, nn.Sequential)
    assert (peaks.predicted(1) is not None) == predictable
    if predictable:
        assert {b: peaks.predicted(b) for b in measured} == measured
    budget = 40 * measured[1]
    assert largest_batch_of(TrainingPeaks(model, (3, 8, 8)), budget) == largest_batch(
        lambda b: count_training(model, count_model(model, (b, 3, 8, 8))).peak_bytes, budget)


def test_a_step_too_big_for_the_budget_is_refused_before_any_real_model_is_built(monkeypatch):
    study = Study("resnet20_cifar", StudyOptions(batch_size=64))
    real_build = study.build

    def meta_only(alpha, device=None, design=None):
        assert device == "meta", "a real model was built before the memory check"
        return real_build(alpha, device, design)

    monkeypatch.setattr(study, "build", meta_only)
    with pytest.raises(ResourceError, match=r"needs about .* GiB .* budget is 0\.02 GiB; the largest batch"):
        study.train(0.5, steps=StepOptions(rounds=1), memory_budget=parse_memory("16MiB"))


def test_a_training_study_measures_times_and_rows(tmp_path):
    study = Study("resnet20_cifar", StudyOptions(batch_size=2))
    result = study.train(0.5, steps=StepOptions(device="cpu", threads=1, rounds=2), memory_budget=2**30)
    vanilla, octave = result.rows
    assert (vanilla.variant, octave.variant) == ("vanilla", "oct") and octave.design == "full"
    for row in result.rows:
        assert row.train_counts_agree and row.step_ms > 0 and row.device == "cpu" and row.threads == 1
        assert row.measured_saved_high_bytes == row.saved_high_bytes
        assert row.measured_saved_low_bytes == row.saved_low_bytes
        assert MEASURED_TOLERANCE[0] <= row.measured_peak_vs_analytic <= MEASURED_TOLERANCE[1]
        # every kept activation is alive at the end of the forward pass, beside the weights and optimizer state
        assert row.peak_train_bytes > row.param_bytes + row.optimizer_state_bytes + row.saved_bytes
    assert octave.train_mac_ratio == octave.train_macs / vanilla.train_macs
    assert octave.theory_train_mac_ratio == pytest.approx(octave.train_mac_ratio, abs=0.02)
    assert octave.step_ratio > 0 and len(result.records()) == 2


def test_confirming_the_largest_batch_runs_a_measured_step_that_fits():
    study = Study("resnet20_cifar", StudyOptions(batch_size=2))
    budget = parse_memory("24MiB")
    result = study.train(0.5, steps=None, memory_budget=budget, confirm_batch=True)
    for row in result.rows:
        assert row.max_batch_size > 2
        assert row.max_batch_measured_peak_bytes <= budget


@pytest.mark.parametrize("text, expected", [("16GiB", 16 * 2**30), ("512 MiB", 512 * 2**20), ("1.5GB", 1.5e9),
                                            ("2048", 2048), ("4kib", 4096)])
def test_memory_sizes_parse(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "12XB", "-1GiB", "0", "1e3GiB", "lots"])
def test_bad_memory_sizes_are_one_line_errors(text):
    with pytest.raises(BadValueError, match="memory"):
        parse_memory(text)


UPSAMPLING_MODEL = '''
import torch.nn as nn

def net():
    # one small conv, then upsampling to a map of about 275 GB: no conv output is large
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.Upsample(scale_factor=4096), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))
'''


def test_a_model_whose_memory_is_in_non_conv_ops_is_refused_up_front(tmp_path):
    from octprofile.runtime.budget import available_memory
    from octprofile.runtime.timing import TimingOptions

    path = tmp_path / "upsampling.py"
    path.write_text(UPSAMPLING_MODEL)
    study = Study(f"{path}:net", StudyOptions(input_size=32))
    vanilla = study.build(0.0, device="meta")
    # what the old estimate (conv and linear outputs only) saw would have fit
    assert 2 * count_model(vanilla, study.input_shape).activation_bytes() < available_memory(torch.device("cpu"))
    with pytest.raises(ResourceError, match="timing at batch 1 needs about"):
        study.compare(0.5, fvcore=False, timing=TimingOptions(device="cpu", rounds=1))
    with pytest.raises(ResourceError, match=r"fvcore's traced forward pass"):
        study.compare(0.5, fvcore=True)
