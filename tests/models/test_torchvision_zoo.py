"""Every classifier torchvision ships: its Oct version has the vanilla params and counts that FlopCounterMode
agrees with, or it is refused in one line naming a layer (or the model) and the reason. The list is read from the
installed torchvision, so a new release cannot add a model that crashes octprofile unseen.

Meta device, 64² where the model runs at that size (224² otherwise): the properties do not depend on the size.
A classifier octprofile also registers by name resolves to the same family and architecture here; its conversion
and counts are checked by tests/analysis/test_counting.py at every alpha.
The largest variants of families already covered by a smaller one run only with OCTPROFILE_FULL_ZOO=1.
"""

import os
import re

import pytest
import torch
import torchvision
from conftest import materialised
from typer.testing import CliRunner

from octprofile import build_model, list_models
from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import fvcore_count, torch_flops
from octprofile.cli import app
from octprofile.errors import CustomModelError, OctprofileError
from octprofile.models.resolve import resolve
from octprofile.nn import OctConv2d
from octprofile.nn.meta import run_on_meta

CLASSIFIERS = torchvision.models.list_models(module=torchvision.models)
# big members of families whose small members run by default
LARGE = re.compile(r"(_l$|_m$|_h_|_l_|b[4-7]$|128gf|32gf|16gf|8gf|3_2gf|_base$|_large$|161$|169$|201$|152$|101|"
                   r"_b$|_s$|x2_0|x1_5|vgg1[69]|v2_s)")
FULL = os.environ.get("OCTPROFILE_FULL_ZOO") == "1"
# what octprofile must say about the conv-free models and ConvNeXt (independent of its code: the paper's OctConv
# replaces convolutions, and ConvNeXt has none that a pair could enter)
REFUSED = re.compile(r"^(vit_|swin_|convnext_)")
# the costliest members of the default set (a minute or more on two cores): they run at 224² (MaxViT, Inception) or
# are built on the CPU with real weights (RegNet computes its widths with tensors); smaller members of their
# families run in the quick loop
COSTLY = ("maxvit_t", "inception_v3", "regnet_y_1_6gf", "regnet_x_1_6gf")
REGISTERED = set(list_models())


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def resolved(name: str):
    try:
        with torch.device("meta"):
            return resolve(f"torchvision.models:{name}")
    except CustomModelError:  # RegNet computes its widths with tensors, which meta ones do not hold: the CPU
        return resolve(f"torchvision.models:{name}")


def runs_at(model, size: int) -> bool:
    try:
        run_on_meta(model, (1, 3, size, size))
        return True
    except Exception:  # noqa: BLE001 - a model that needs a bigger input
        return False


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in COSTLY else n
                                  for n in CLASSIFIERS if FULL or not LARGE.search(n)])
def test_every_torchvision_classifier_converts_or_is_refused_in_one_line(name):
    info = resolved(name)
    if name in REGISTERED:
        # the same family and architecture as the registered model, whose conversion and counts
        # tests/analysis/test_counting.py checks at every alpha and two sizes
        registered = resolve(name)
        assert info.family == registered.family
        with torch.device("cpu" if name.startswith("regnet") else "meta"):  # RegNet's widths are computed by tensors
            assert repr(info.build_vanilla()) == repr(registered.build_vanilla())
        return
    vanilla = build_model(info, 0.0, device="meta")
    size = 64 if runs_at(vanilla, 64) else 224
    shape = (1, 3, size, size)
    vanilla_macs = count_model(vanilla, shape).macs
    for alpha in (0.25, 0.5):
        try:
            octave = build_model(info, alpha, device="meta", input_size=size)
        except OctprofileError as error:
            message = str(error)
            assert "\n" not in message and message
            layers = [n for n, _ in vanilla.named_modules() if n]
            assert any(f"'{n}'" in message or n in message.split() or f"{n}," in message or f"{n})" in message
                       for n in layers) or type(vanilla).__name__ in message, message
            assert REFUSED.match(name) or name.startswith("maxvit"), f"{name} refused: {message}"
            continue
        assert not REFUSED.match(name), f"{name} has no conv a pair could enter, yet converted"
        # MaxViT's attention matmuls are not conv or linear MACs: FlopCounterMode counts them, alike in both models
        attention = torch_flops(vanilla, shape) // 2 - vanilla_macs
        assert attention == 0 or name.startswith("maxvit")
        assert params(octave) == params(vanilla)
        assert any(isinstance(m, OctConv2d) and m.out_split.low for m in octave.modules())
        macs = count_model(octave, shape).macs
        assert macs + attention == torch_flops(octave, shape) // 2
        assert macs < vanilla_macs


@pytest.mark.parametrize("name", ["regnet_y_400mf", "shufflenet_v2_x0_5", "mobilenet_v3_small", "mnasnet0_5",
                                  "efficientnet_b0"])
def test_new_families_keep_stem_and_classifier_vanilla_and_depthwise_within_a_branch(name):
    model = build_model(name, 0.5, device="meta")
    first_conv = next(n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | OctConv2d))
    assert not isinstance(model.get_submodule(first_conv), OctConv2d)
    for module in model.modules():
        if isinstance(module, OctConv2d) and module.depthwise:
            assert module.in_split == module.out_split and set(module.active_paths()) <= {"hh", "ll"}
        if isinstance(module, OctConv2d):
            for split in (module.in_split, module.out_split):
                assert split.low in (0, split.channels // 2) or module.geometry.groups > 1


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x0_5", "regnet_x_400mf"])
def test_fvcore_counts_the_new_families_as_the_analytic_engine(name, one_torch_thread):
    for alpha in (0.25, 0.5):
        model = materialised(name, alpha)
        assert fvcore_count(model, (1, 3, 224, 224)).macs == count_model(model, (1, 3, 224, 224)).macs


runner = CliRunner()


@pytest.mark.parametrize("command", ["compare", "layers", "coverage", "check"])
def test_commands_answer_regnet_and_refuse_convnext_in_one_line(command):
    extra = {"compare": ["--no-time", "--no-fvcore"], "check": ["--no-fvcore"]}.get(command, [])
    result = runner.invoke(app, [command, "regnet_y_400mf", "--alpha", "0.5", "--input-size", "64", *extra])
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output
    refused = runner.invoke(app, [command, "torchvision.models:convnext_tiny", "--alpha", "0.5", "--input-size", "64",
                                  *extra])
    assert refused.exit_code == 2
    assert "ConvNeXt has no layer that can enter the octave" in refused.output


def test_models_lists_the_new_names_with_their_input_size():
    result = runner.invoke(app, ["models"])
    # torchvision's evaluation sides (its model docs): 384 for EfficientNet v2-S, 240 for B1, 224 for the rest
    sides = {"efficientnet_b0": 224, "efficientnet_b1": 240, "efficientnet_v2_s": 384, "mobilenet_v3_large": 224,
             "mobilenet_v3_small": 224, "regnet_y_400mf": 224, "regnet_x_400mf": 224, "shufflenet_v2_x1_0": 224,
             "mnasnet1_0": 224}
    for name, side in sides.items():
        line = next(line for line in result.output.splitlines() if f" {name} " in f" {line} ")
        assert str(side) in line
