"""The counting engine: one meta-device forward pass, with the rules of ``rules.py`` plugged in.

Nothing is allocated: shapes flow through meta tensors, each conv/linear/octave-conv layer is
costed by its module rule, and the parameter-free work between layers (residual adds, pooling,
norms) by function rules. A layer's rule accounts for everything inside it, so the engine looks
at nothing nested in a counted layer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from octprofile.analysis.rules import FUNCTION_RULES, OTHER_WORK, LayerCount, module_rule, numel, output_shapes
from octprofile.nn.meta import run_on_meta


@dataclass
class CountResult:
    """Per-layer counts of one model at one input shape, and their totals."""

    input_shape: tuple[int, ...]
    layers: list[LayerCount]
    params: int
    between_layers: Counter = field(default_factory=Counter)  # parameter-free work outside layers

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def activations(self) -> int:
        """Elements of every conv/linear output feature map (the dominant activation memory)."""
        return sum(layer.activations for layer in self.layers)

    @property
    def params_dropped(self) -> int:
        """Weights the octave layers' design drops (dropped paths): vanilla params − this model's."""
        return sum(layer.params_dropped for layer in self.layers)

    @property
    def low_channels(self) -> tuple[int, ...]:
        """The distinct channel counts of the low-frequency maps octave layers output, ascending."""
        return tuple(sorted({layer.output_shapes[1][0] for layer in self.layers if len(layer.output_shapes) == 2}))

    def activation_bytes(self, dtype: torch.dtype = torch.float32) -> int:
        return self.activations * torch.empty((), dtype=dtype).element_size()

    @property
    def other(self) -> dict[str, int]:
        """Parameter-free work of the whole model, by kind (see rules.py for the units)."""
        total = Counter(self.between_layers)
        for layer in self.layers:
            total.update(layer.other)
        return {kind: total.get(kind, 0) for kind in OTHER_WORK}

    def by_name(self) -> dict[str, LayerCount]:
        return {layer.name: layer for layer in self.layers}


class _FunctionWork(TorchFunctionMode):
    """Records parameter-free torch functions called outside counted layers."""

    def __init__(self, engine: _Engine) -> None:
        super().__init__()
        self.engine = engine

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        rule = FUNCTION_RULES.get(func)
        if rule is not None and self.engine.depth == 0:
            kind, amount = rule(args, kwargs, output)
            self.engine.between_layers[kind] += amount
        return output


class _Engine:
    def __init__(self) -> None:
        self.depth = 0  # > 0 while a counted layer runs
        self.layers: list[LayerCount] = []
        self.between_layers: Counter = Counter()

    def attach(self, model: nn.Module) -> list:
        handles = []
        for name, module in model.named_modules():
            rule = module_rule(module)
            if rule is not None:
                handles.append(module.register_forward_pre_hook(self._enter))
                handles.append(module.register_forward_hook(self._leave(name, rule), always_call=True,
                                                            with_kwargs=True))
        return handles

    def _enter(self, _module, _inputs) -> None:
        self.depth += 1

    def _leave(self, name: str, rule):
        def hook(module, inputs, kwargs, output):
            self.depth -= 1
            if self.depth == 0:
                count = rule(name, module, (*inputs, *kwargs.values()), output)
                count.output_shapes = output_shapes(output)
                self.layers.append(count)
        return hook


def count_model(model: nn.Module, input_shape: tuple[int, ...], observers: tuple = ()) -> CountResult:
    """Params, MACs, activations and parameter-free work of ``model`` on ``input_shape``.

    ``observers`` are other modes (e.g. FlopCounterMode) that watch the same meta pass, so an
    independent counter costs no second pass.
    """
    engine = _Engine()
    handles = engine.attach(model)
    try:
        run_on_meta(model, tuple(input_shape), modes=(_FunctionWork(engine), *observers))
    finally:
        for handle in handles:
            handle.remove()
    params = sum(p.numel() for p in model.parameters())
    return CountResult(tuple(input_shape), engine.layers, params, engine.between_layers)


__all__ = ["CountResult", "LayerCount", "count_model", "numel"]
