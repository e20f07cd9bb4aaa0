"""The cost of one training step from shapes: forward + backward MACs, and memory (what autograd keeps, per
frequency; parameters, gradients, optimizer state; the peak of the step), on the meta device.

Backward MACs, per conv or linear layer (an octave conv: per path, each at its own grid):
  weight gradient  = the forward MACs (a conv of the input with the output gradient)
  input gradient   = the forward MACs (a transposed conv of the output gradient with the weight), only where
                     the layer's input needs a gradient: not for the first layer, which reads the input batch
So a layer costs 3x its forward MACs in a training step, the first layer 2x. FlopCounterMode counts the same
(FLOPs = 2 x MACs) when the input batch does not require a gradient, except that torch's formula for a grouped
conv's weight gradient counts it ``groups`` times over (it passes all input channels to every group); the
traced count here uses that formula with the weight-gradient term divided by the groups.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.ops import aten
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from octprofile.analysis.counting import CountResult
from octprofile.analysis.memory import LiveMemory, SavedActivations, SavedTensorRecorder, tensors_in
from octprofile.analysis.rules import module_rule
from octprofile.analysis.theory import layer_mac_ratio
from octprofile.errors import BadValueError
from octprofile.nn.meta import meta_state

OPTIMIZERS = ("sgd", "adamw")
# A measured step's peak over the analytic one: above 1 by what the meta pass cannot see (library workspaces,
# the allocator's own rounding), below 1 where the real allocator frees earlier than the last reference goes.
MEASURED_TOLERANCE = (0.75, 1.10)
HEADROOM = MEASURED_TOLERANCE[1]  # a step "fits" a budget when its analytic peak times this does
STATE_PER_PARAM = {"sgd": 1, "adamw": 2}  # momentum buffer; AdamW's two moments (plus a step count each)


def make_optimizer(name: str, params) -> torch.optim.Optimizer:
    """SGD with momentum 0.9 and weight decay 1e-4 (the paper's ImageNet recipe), or AdamW."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
    raise BadValueError(f"optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")


def training_loss(output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for class scores (batch x classes; ``targets`` are taken modulo the classes); mean square
    for any other output."""
    if output.dim() == 2:
        return F.cross_entropy(output, targets % output.shape[1])
    return output.float().square().mean()


def targets_for(batch: int, device, classes: int = 2**20, seed: int = 0) -> torch.Tensor:
    if torch.device(device).type == "meta":
        return torch.zeros(batch, dtype=torch.long, device="meta")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, classes, (batch,), generator=generator).to(device)


def _conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, groups, output_mask, out_shape=None, **_kwargs) -> int:
    """torch's convolution_backward FLOPs with the weight gradient of a grouped conv counted once (torch's own
    formula multiplies it by ``groups``)."""
    def swap(shape):
        return [shape[1], shape[0], *shape[2:]]

    flops = 0
    if output_mask[0]:
        flops += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:
        first, second = (grad_out_shape, x_shape) if transposed else (x_shape, grad_out_shape)
        flops += conv_flop_count(swap(first), swap(second), swap(out_shape[1]), transposed=False) // groups
    return flops


def training_flop_counter() -> FlopCounterMode:
    """FlopCounterMode over forward and backward, grouped weight gradients counted once."""
    return FlopCounterMode(display=False, custom_mapping={aten.convolution_backward: _conv_backward_flop})


@dataclass
class TrainingCount:
    """One training step of one model at one input shape, from shapes (bytes in the model's dtype)."""

    input_shape: tuple[int, ...]
    forward_macs: int
    backward_macs: int
    flops_traced: int  # FlopCounterMode over forward + backward (see the module docstring)
    input_grad: dict[str, bool]  # per conv/linear layer: whether its input needs a gradient
    param_bytes: int  # parameters and buffers
    gradient_bytes: int
    optimizer_state_bytes: int
    batch_bytes: int  # the input batch and its targets
    saved: SavedActivations
    step_peak_bytes: int  # the most the step holds at once above the resident bytes
    layer_macs: dict[str, int] = field(default_factory=dict)  # forward MACs per conv/linear layer

    @property
    def macs(self) -> int:
        return self.forward_macs + self.backward_macs

    @property
    def resident_bytes(self) -> int:
        """What exists before the step and after it: weights, buffers, optimizer state, the batch."""
        return self.param_bytes + self.optimizer_state_bytes + self.batch_bytes

    @property
    def peak_bytes(self) -> int:
        return self.resident_bytes + self.step_peak_bytes

    def layer_training_macs(self) -> dict[str, int]:
        return {name: macs * (2 + self.input_grad.get(name, True)) for name, macs in self.layer_macs.items()}


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def count_training(model: nn.Module, count: CountResult, optimizer: str = "sgd") -> TrainingCount:
    """One steady-state training step (forward, loss, backward, optimizer update, gradients set to None) of
    ``model`` on meta tensors of ``count.input_shape``; ``count`` is its inference count (forward MACs).

    A first, untracked step creates the optimizer state, as in any step after the first. The model is left
    as it was (its parameters are stood in for by meta tensors)."""
    flops = training_flop_counter()
    training = _MetaTraining(model, optimizer, count.input_shape[1:])
    step = _TrackedStep(training, count.input_shape, flops)
    layer_macs = {layer.name: layer.macs for layer in count.layers}
    backward = sum(macs * (1 + step.input_grad.get(name, True)) for name, macs in layer_macs.items())
    return TrainingCount(tuple(count.input_shape), count.macs, backward, int(flops.get_total_flops()),
                         step.input_grad, nbytes(training.state.values()), nbytes(training.trainable),
                         training.optimizer_state, nbytes((step.x, step.targets)), step.recorder.result(),
                         step.live.peak, layer_macs)


def training_peak(model: nn.Module, input_shape: tuple[int, ...], optimizer: str = "sgd") -> int:
    """``count_training(...).peak_bytes`` without counting anything else."""
    return TrainingPeaks(model, input_shape[1:], optimizer).measured(input_shape[0])


class TrainingPeaks:
    """The analytic training peak (``count_training(...).peak_bytes``) of one model at any batch size, for the
    largest-batch search: ``predicted`` from two tracked steps, ``measured`` by a tracked step at that batch.

    A step runs the same ops in the same order at every batch, and each storage it creates is either of fixed
    size or proportional to the batch; so the bytes alive after the k-th creation are a_k + b_k · batch, and
    two steps (batches 1 and 2) give every a_k and b_k. The peak at any batch is then the largest of these
    lines. ``predicted`` returns None where the two steps did not create the same number of storages (a model
    whose ops depend on the batch), so the caller measures instead."""

    def __init__(self, model: nn.Module, sample_shape: tuple[int, ...], optimizer: str = "sgd") -> None:
        self.sample_shape = tuple(sample_shape)
        self.training = _MetaTraining(model, optimizer, self.sample_shape)
        self._lines: list[tuple[int, int]] | None = None
        self._io = (0, 0)  # the batch and its targets: a + b · batch bytes
        self._measured: dict[int, int] = {}

    def measured(self, batch: int) -> int:
        if batch not in self._measured:
            self._measured[batch] = self._resident(self._step(batch))
        return self._measured[batch]

    def _step(self, batch: int, levels: list[int] | None = None) -> _TrackedStep:
        return _TrackedStep(self.training, (batch, *self.sample_shape), levels=levels)

    def _resident(self, step: _TrackedStep) -> int:
        return (nbytes(self.training.state.values()) + self.training.optimizer_state
                + nbytes((step.x, step.targets)) + step.live.peak)

    def predicted(self, batch: int) -> int | None:
        if self._lines is None:
            one, two = [], []
            steps = self._step(1, one), self._step(2, two)
            self._measured.update({1: self._resident(steps[0]), 2: self._resident(steps[1])})
            io_one, io_two = (nbytes((step.x, step.targets)) for step in steps)
            if len(one) != len(two):
                return None
            self._lines = [(2 * a - b, b - a) for a, b in zip(one, two, strict=True)]
            self._io = (2 * io_one - io_two, io_two - io_one)
        resident = nbytes(self.training.state.values()) + self.training.optimizer_state
        live = max((a + b * batch for a, b in self._lines), default=0)
        return resident + self._io[0] + self._io[1] * batch + live


class _MetaTraining:
    """``model``'s parameters and buffers as meta tensors (gradients where the parameter wants one), its
    optimizer, and the optimizer state a first untracked step creates, as in any step after the first. On meta a
    step costs the same at any batch, so that first step runs at batch 1 and serves every batch tried after."""

    def __init__(self, model: nn.Module, optimizer: str, sample_shape: tuple[int, ...]) -> None:
        params = dict(model.named_parameters())
        self.model = model
        # whether a weight trains is the model's parameter's to say: a meta stand-in made for a model built on the
        # CPU (a custom model is a copy of the one its code returned) does not carry it
        self.state = {name: value.detach().requires_grad_(name in params and params[name].requires_grad)
                      for name, value in meta_state(model).items()}
        self.trainable = [value for value in self.state.values() if value.requires_grad]
        self.optimizer = make_optimizer(optimizer, self.trainable)
        with self.training_mode():
            self.run(torch.empty((1, *sample_shape), device="meta"), targets_for(1, "meta"))
        self.optimizer_tensors = [t for s in self.optimizer.state.values() for t in s.values()
                                  if isinstance(t, torch.Tensor)]
        self.optimizer_state = nbytes(self.optimizer_tensors)

    @contextlib.contextmanager
    def training_mode(self):
        was_training = self.model.training
        self.model.train()
        try:
            yield
        finally:
            self.model.train(was_training)

    def run(self, x: torch.Tensor, targets: torch.Tensor, recording=contextlib.nullcontext) -> None:
        with recording():
            output = torch.func.functional_call(self.model, self.state, (x,))
        loss = training_loss(output, targets)
        del output
        loss.backward()
        del loss
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class _TrackedStep:
    """One step of a ``_MetaTraining`` at ``input_shape`` with its live memory and saved tensors tracked (and the
    FLOPs, given ``flops``, a FlopCounterMode; the bytes alive after each storage's creation, given ``levels``)."""

    def __init__(self, training: _MetaTraining, input_shape: tuple[int, ...], flops=None,
                 levels: list[int] | None = None) -> None:
        self.x = x = torch.empty(tuple(input_shape), device="meta")
        self.targets = targets = targets_for(input_shape[0], "meta")
        model = training.model
        self.input_grad: dict[str, bool] = {}
        hooks = [module.register_forward_pre_hook(_needs_grad_hook(name, self.input_grad))
                 for name, module in model.named_modules() if module_rule(module) is not None]
        try:
            with training.training_mode():
                self.live = LiveMemory(levels)
                self.recorder = SavedTensorRecorder(
                    model, [*training.state.values(), x, targets, *training.optimizer_tensors], self.live)
                with self.live, flops if flops is not None else contextlib.nullcontext():
                    training.run(x, targets, self.recorder.recording)
        finally:
            for hook in hooks:
                hook.remove()


def _needs_grad_hook(name: str, found: dict[str, bool]):
    def hook(_module, inputs) -> None:
        if name not in found:  # the outermost call names the layer; nested path convs report under their own
            found[name] = any(t.requires_grad for t in tensors_in(inputs))
    return hook


def network_training_mac_ratio(octave: TrainingCount, vanilla: TrainingCount, layers) -> float:
    """What theory predicts for the Oct/vanilla ratio of training MACs: each layer's closed form weighted by the
    same layer's training MACs in the vanilla model (forward + weight gradient + input gradient where needed)."""
    weights = vanilla.layer_training_macs()
    total = sum(weights[layer.name] for layer in layers)
    return sum(weights[layer.name] * layer_mac_ratio(layer) for layer in layers) / total


@dataclass(frozen=True)
class BatchFit:
    """The largest batch whose training step fits in ``budget_bytes``: its analytic peak times ``HEADROOM``."""

    budget_bytes: int
    batch_size: int  # 0: not even one sample fits
    peak_bytes: int  # the analytic peak at that batch (at batch 1 when none fits)


def largest_batch(peak_at: Callable[[int], int], budget: int, limit: int = 2**20) -> BatchFit:
    """The peak grows linearly in the batch once activations dominate it (at small batches the optimizer update
    of the fixed-size weights can set it): bracket the answer by growing the batch 16-fold, then narrow the
    bracket by linear interpolation (exact on the linear part), bisecting whenever interpolation stalls.
    A batch fits when its analytic peak times ``HEADROOM`` is within ``budget``."""
    room = budget / HEADROOM
    low, low_peak = 1, peak_at(1)
    if low_peak > room:
        return BatchFit(budget, 0, low_peak)
    high = 16
    while True:
        high = min(high, limit)
        high_peak = peak_at(high)
        if high_peak > room:
            break
        if high == limit:
            return BatchFit(budget, high, high_peak)
        low, low_peak, high = high, high_peak, high * 16
    interpolate = True
    while high - low > 1:
        guess = int(low + (room - low_peak) * (high - low) // (high_peak - low_peak)) if interpolate \
            else (low + high) // 2
        guess = min(max(guess, low + 1), high - 1)
        peak = peak_at(guess)
        shrunk = max(guess - low, high - guess) < (high - low) * 3 // 4
        if peak <= room:
            low, low_peak = guess, peak
        else:
            high, high_peak = guess, peak
        interpolate = shrunk or not interpolate  # after a poor interpolation step, bisect once
    return BatchFit(budget, low, low_peak)


def largest_batch_of(peaks: TrainingPeaks, budget: int) -> BatchFit:
    """``largest_batch`` over ``peaks.predicted``, its answer confirmed by measuring the batch found and the next
    one; where a prediction misses (or cannot be made), the search runs on measured peaks."""
    if peaks.predicted(1) is not None:
        fit = largest_batch(peaks.predicted, budget)
        edges = (max(fit.batch_size, 1), fit.batch_size + 1)
        if all(peaks.measured(batch) == peaks.predicted(batch) for batch in edges):
            return fit
    return largest_batch(peaks.measured, budget)

