"""True memory from shapes: which tensors are alive at each moment of a pass, and what autograd keeps.

Nothing is allocated: the pass runs on meta tensors, and every tensor an op creates is followed from the op
that makes it to the moment the last reference to its storage goes (a weak reference per owner). That covers
every op that allocates (conv, batch norm, pooling, upsampling, adds, the loss, the optimizer update), not
only conv and linear outputs. The same bookkeeping runs on real tensors, where it is a measurement.

What autograd keeps for the backward pass is what it hands to ``saved_tensors_hooks``: a conv keeps its
input, batch norm its input, an in-place ReLU its output, max pooling its input and indices, linear its
input; upsampling and adds keep nothing. Storages are counted once however many ops keep them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from octprofile.nn import OctBatchNormNd, OctConvNd, OctPair
from octprofile.nn.meta import module_hooks


def storage_key(tensor: torch.Tensor) -> int:
    """Identifies the memory a tensor uses (views share it): the address of its storage object."""
    return tensor.untyped_storage()._cdata


def storage_bytes(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().nbytes()


def tensors_in(value) -> list[torch.Tensor]:
    leaves = tree_flatten(value)[0]
    found = []
    for leaf in leaves:
        if isinstance(leaf, OctPair):
            found += [leaf.high, leaf.low]
        elif isinstance(leaf, torch.Tensor):
            found.append(leaf)
    return found


class LiveMemory(TorchDispatchMode):
    """Bytes held by the storages that ops create while it is active, and the highest they reach.

    Storages that existed before (weights, buffers, the input, optimizer state) are not counted, nor are
    views or in-place results of them. ``allocated`` sums every storage ever created (an upper bound of
    what a tracer that keeps every intermediate alive would hold).
    """

    def __init__(self, levels: list[int] | None = None) -> None:
        super().__init__()
        self.levels = levels  # given: the bytes alive after each storage's creation are appended to it
        self.level = self.peak = self.allocated = self.created = self.peak_created = 0
        self._sizes: dict[int, int] = {}
        self._owners: dict[int, int] = {}
        # storages by creation number (an address is reused once freed): what was alive at the peak, and
        # which were marked as low-frequency maps
        self._serials: dict[int, int] = {}
        self._at_peak: dict[int, int] = {}
        self._low: set[int] = set()

    def mark_low(self, tensor: torch.Tensor) -> None:
        """``tensor``'s storage (if one this pass created and still alive) holds a low-frequency map."""
        serial = self._serials.get(storage_key(tensor))
        if serial is not None:
            self._low.add(serial)

    @property
    def peak_low(self) -> int:
        """Of the bytes alive at the peak, those in storages marked low-frequency (``mark_low``)."""
        return sum(size for serial, size in self._at_peak.items() if serial in self._low)

    def hold(self, owner: object, tensor: torch.Tensor) -> None:
        """``owner`` keeps ``tensor``'s storage alive (if it is one this pass created) until it is collected."""
        key = storage_key(tensor)
        if key not in self._owners:
            return
        self._owners[key] += 1
        weakref.finalize(owner, self._release, key)

    def _created(self, tensor: torch.Tensor) -> None:
        key = storage_key(tensor)
        if key not in self._owners:
            size = storage_bytes(tensor)
            self._owners[key], self._sizes[key] = 0, size
            self._serials[key] = self.created = self.created + 1
            self.level += size
            self.allocated += size
            if self.levels is not None:
                self.levels.append(self.level)
            if self.level > self.peak:
                self.peak = self.level
                self.peak_created = self.created  # which storage's creation reached the peak
                self._at_peak = {self._serials[k]: size for k, size in self._sizes.items()}
        self._owners[key] += 1
        weakref.finalize(tensor, self._release, key)

    def _release(self, key: int) -> None:
        self._owners[key] -= 1
        if not self._owners[key]:
            del self._owners[key], self._serials[key]
            self.level -= self._sizes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        existing = {storage_key(t) for t in tensors_in((args, kwargs))} - set(self._owners)
        for tensor in tensors_in(output):
            if storage_key(tensor) not in existing:  # a view or in-place result of a tensor made before: no memory
                self._created(tensor)
        return output


class _Kept:
    """What autograd stores for one saved tensor; its collection tells when the tensor is let go."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


@dataclass
class SavedActivations:
    """Storages autograd kept for the backward pass, counted once each, split by frequency.

    low: the low-frequency map of an octave layer and what is computed on its grid inside octave layers
    (the inputs of the H→L, L→L and L→H path convs, the low batch norm); high: everything else, including
    every tensor of the vanilla layers. Weights, buffers and the input batch are not activations.
    """

    high_bytes: int = 0
    low_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.high_bytes + self.low_bytes


class SavedTensorRecorder:
    """Records what autograd saves during a forward pass of ``model`` (meta or real tensors alike)."""

    def __init__(self, model: nn.Module, resident: Iterable[torch.Tensor], live: LiveMemory | None = None) -> None:
        self.model, self.live = model, live
        self.resident = {storage_key(t) for t in resident}
        self.low_modules = set()
        for module in model.modules():
            if isinstance(module, OctConvNd):
                self.low_modules |= {getattr(module, p) for p in ("hl", "ll", "lh") if getattr(module, p) is not None}
            elif isinstance(module, OctBatchNormNd):
                self.low_modules.add(module.low)
        self._inside_low = 0
        self._saved: dict[int, tuple[int, bool]] = {}  # storage -> (bytes, saved on the low grid)
        self._low_maps: list[torch.Tensor] = []  # held, so their storage keys stay theirs until the end

    def _pack(self, tensor: torch.Tensor):
        key = storage_key(tensor)
        if key not in self.resident:
            size, low = self._saved.get(key, (storage_bytes(tensor), False))
            self._saved[key] = (size, low or self._inside_low > 0)
        kept = _Kept(tensor)
        if self.live is not None:
            self.live.hold(kept, tensor)
        return kept

    def _enter(self, module, inputs) -> None:
        self._inside_low += module in self.low_modules
        self._note_low(inputs)

    def _leave(self, module, inputs, output) -> None:
        self._inside_low -= module in self.low_modules
        self._note_low(output)

    def _note_low(self, value) -> None:
        for leaf in tree_flatten(value)[0]:
            if isinstance(leaf, OctPair):
                self._low_maps.append(leaf.low)

    @contextmanager
    def recording(self):
        handles = []
        for module in self.model.modules():
            handles.append(module.register_forward_pre_hook(self._enter))
            handles.append(module.register_forward_hook(self._leave, always_call=True))
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda kept: kept.tensor):
                yield self
        finally:
            for handle in handles:
                handle.remove()

    def result(self) -> SavedActivations:
        low_keys = {storage_key(t) for t in self._low_maps}
        found = SavedActivations()
        for key, (size, low) in self._saved.items():
            if low or key in low_keys:
                found.low_bytes += size
            else:
                found.high_bytes += size
        return found


@dataclass(frozen=True)
class InferenceMemory:
    """One inference forward pass (no autograd), above the weights and the input."""

    peak_bytes: int  # the most bytes alive at once
    allocated_bytes: int  # every storage created, summed (what a tracer keeping each intermediate would hold)
    peak_low_bytes: int = 0  # of the peak, the low-frequency maps octave layers pass on (OctPair.low)
    peak_at: str = ""  # the module whose op reached the peak ("" when nothing was allocated)


class InferenceMemoryWatch(LiveMemory):
    """Follows the live activation memory of an inference pass that another tool runs: enter ``watch(model)``
    around the pass and give this mode to it (``count_model(..., observers=(watch,))``), so the peak costs no
    pass of its own. The pass runs in eval mode without autograd (``run_on_meta`` does)."""

    def __init__(self) -> None:
        super().__init__()
        self._running: list[str] = []  # module names, innermost last
        # the innermost module running when storages were created, by creation number
        self._created_in: dict[int, str] = {}

    @contextmanager
    def watch(self, model: nn.Module):
        with module_hooks(model, self._enter, self._leave):
            yield self

    def _enter(self, name: str):
        name = name or "<model>"

        def hook(_module, _inputs) -> None:
            self._running.append(name)
            self._created_in[self.created] = name
        return hook

    def _leave(self, _module, _inputs, output) -> None:
        self._running.pop()
        self._created_in[self.created] = self._running[-1] if self._running else "<model>"
        for leaf in tree_flatten(output)[0]:
            if isinstance(leaf, OctPair):
                self.mark_low(leaf.low)

    def result(self) -> InferenceMemory:
        # the module running when the peak's storage was made: the last one noted at or before its creation number
        at = (max((n for n in self._created_in if n < self.peak_created), default=None)
              if self.peak_created else None)
        return InferenceMemory(self.peak, self.allocated, self.peak_low,
                               self._created_in[at] if at is not None else "")


def inference_memory(model: nn.Module, input_shape: tuple[int, ...]) -> InferenceMemory:
    """The true activation peak of ``model`` (on the meta device, or its meta copy) in eval mode."""
    from octprofile.nn.meta import run_on_meta

    memory = InferenceMemoryWatch()
    with memory.watch(model):
        run_on_meta(model, tuple(input_shape), modes=(memory,))
    return memory.result()
