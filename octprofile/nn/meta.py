"""Running a module on the meta device (shapes only, no memory) and naming where it failed."""

from __future__ import annotations

import itertools
import sys
from contextlib import ExitStack, contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode


def meta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Meta stand-ins for the model's parameters and buffers (free, whatever their size)."""
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    return {name: value if value.is_meta else torch.empty_like(value, device="meta")
            for name, value in state.items()}


def materialised(model: nn.Module) -> nn.Module:
    """``model`` (built on the meta device) given real CPU storage, in place, without the cost of random
    initialisation: zero weights, unit running variances. For tools that read shapes only (fvcore's trace)."""
    model.to_empty(device="cpu")
    with torch.no_grad():
        for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
            tensor.fill_(1 if name.endswith("running_var") else 0)
    return model


class _ShapeOnlyBatchNorm(TorchFunctionMode):
    """Batch norm keeps its input's shape; on meta tensors its decomposition is most of a forward
    pass's time, so it is skipped, after the channel check it would have made."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.batch_norm and args[0].is_meta:
            x, stats = args[0], kwargs.get("weight", args[1] if len(args) > 1 else None)
            if stats is not None and (x.dim() < 2 or x.shape[1] != stats.shape[0]):
                raise RuntimeError(f"batch norm over {stats.shape[0]} channels got input of shape {tuple(x.shape)}")
            return torch.empty_like(x)
        return func(*args, **kwargs)


def run_on_meta(model: nn.Module, input_shape: tuple[int, ...], dtype=torch.float32,
                modes: tuple[TorchFunctionMode, ...] = ()):
    """One forward pass in eval mode on meta tensors of ``input_shape``; the model is not moved.

    Eval mode because inference is what is profiled. ``modes`` are entered inside the batch-norm
    shortcut, so they see every call the model makes.
    """
    x = torch.empty(input_shape, device="meta", dtype=dtype)
    state = meta_state(model)  # made before the modes watch: not part of the pass
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), ExitStack() as stack:
            stack.enter_context(_ShapeOnlyBatchNorm())
            for mode in modes:
                stack.enter_context(mode)
            return functional_call(model, state, (x,))
    finally:
        model.train(was_training)


@contextmanager
def module_hooks(model: nn.Module, enter, leave):
    """While inside, every module of ``model`` calls ``enter(name)``'s hook before its forward and ``leave``
    after it, even when the forward raised (``always_call``): the scaffolding of whoever follows which
    module is running."""
    handles = []
    for name, module in model.named_modules():
        handles += [module.register_forward_pre_hook(enter(name)),
                    module.register_forward_hook(leave, always_call=True)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class ModuleScope:
    """Tracks which module is running, innermost last, through forward hooks: which one raised, and which
    ones were called with an octave (high, low) pair."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, nn.Module]] = []
        self.failed: tuple[str, nn.Module] | None = None
        self.called_with_pair: list[str] = []

    @contextmanager
    def watch(self, model: nn.Module):
        with module_hooks(model, self._enter, self._leave):
            yield self

    def _enter(self, name: str):
        from octprofile.nn.pair import OctPair

        def hook(module, inputs):
            self.stack.append((name, module))
            if any(isinstance(value, OctPair) for value in inputs):
                self.called_with_pair.append(name)
        return hook

    def _leave(self, _module, _inputs, output):
        # torch calls always_call hooks from its exception handler when forward raised: the first module
        # to leave while an exception is in flight is the one it came from
        if output is None and sys.exc_info()[0] is not None and self.failed is None and self.stack:
            self.failed = self.stack[-1]
        if self.stack:
            self.stack.pop()

    def current(self) -> str:
        """The running module as 'name (Type)'; after an exception, the innermost module it came from."""
        name, module = self.failed or (self.stack[-1] if self.stack else ("<model>", None))
        return f"'{name or '<model>'}' ({type(module).__name__})"
