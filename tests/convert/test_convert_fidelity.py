"""The converter never changes what a model computes without saying so: layers it cannot carry over stay
vanilla and are listed, or the build is refused naming the layer."""

import re

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from octprofile.build import build_model
from octprofile.cli import app
from octprofile.convert import convert, not_converted, unconvertible, vanilla_reasons_of
from octprofile.errors import ConversionError
from octprofile.nn import OctConv2d
from octprofile.study import Study

MODEL = '''
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations


class WSConv2d(nn.Conv2d):
    """Weight standardisation: its own forward."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Block(nn.Module):
    def __init__(self, cin, cout, conv=nn.Conv2d):
        super().__init__()
        self.conv = conv(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, kind=None, where=3):
        super().__init__()
        blocks = [Block(3, 16), Block(16, 16), Block(16, 32), Block(32, 32), Block(32, 32), Block(32, 32)]
        conv = blocks[where].conv
        if kind == "ws":
            blocks[where] = Block(conv.in_channels, conv.out_channels, WSConv2d)
        elif kind == "weight_norm":
            parametrizations.weight_norm(conv)
        elif kind == "spectral_norm":
            parametrizations.spectral_norm(conv)
        elif kind == "transpose":
            blocks[where].conv = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 3, padding=1)
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)
        self.input_size = 32

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def ws_last():
    return Net("ws", 5)


def ws_middle():
    return Net("ws", 3)


def ws_stem():
    return Net("ws", 0)


def weight_norm_middle():
    return Net("weight_norm", 3)


def spectral_norm_last():
    return Net("spectral_norm", 5)


def transpose_middle():
    return Net("transpose", 3)


class Summary(nn.Module):
    """Runs a conv, then reads its output as a tensor in its own code (a spatial std)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y * y.std(dim=(2, 3), keepdim=True)


def summary_middle():
    net = Net()
    net.features[3] = nn.Sequential(net.features[3], Summary(32))
    return net


def only_ws():
    return nn.Sequential(WSConv2d(3, 8, 3), WSConv2d(8, 8, 3), WSConv2d(8, 8, 3), nn.Flatten())
'''

runner = CliRunner()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fidelity") / "fidelity_net.py"
    path.write_text(MODEL)
    return path


def ref(model_file, name):
    return f"{model_file}:{name}"


def conv_types(model):
    return {name: type(module).__name__ for name, module in model.named_modules() if name.endswith(".conv")}


def test_a_conv_with_its_own_forward_at_the_exit_stays_vanilla_and_is_listed(model_file):
    model = build_model(ref(model_file, "ws_last"), 0.5, seed=0)
    kinds = conv_types(model)
    assert kinds["features.5.conv"] == "WSConv2d"
    assert kinds["features.1.conv"] == kinds["features.4.conv"] == "OctConv2d"  # the octave leaves before it
    assert not_converted(model) == {"features.5.conv": "WSConv2d has its own forward"}


def test_a_vanilla_ws_layer_computes_what_it_computed_before_conversion(model_file):
    import copy

    from octprofile.models.resolve import resolve

    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    vanilla = resolve(ref(model_file, "ws_last")).build_vanilla().eval()
    octave = convert(copy.deepcopy(vanilla), 0.5, "chain", (1, 3, 32, 32)).eval()
    assert type(octave.features[5].conv).__name__ == "WSConv2d"
    outputs = {}
    for name, model in (("vanilla", vanilla), ("oct", octave)):
        # the same input into the WS layer: its output is what vanilla's layer computes
        with torch.no_grad():
            outputs[name] = model.features[5].conv(x.new_ones(1, 32, 8, 8))
            assert torch.isfinite(model(x)).all()
    torch.testing.assert_close(outputs["oct"], outputs["vanilla"], rtol=0, atol=0)


def test_a_ws_layer_inside_the_chain_cuts_the_octave_region_around_it(model_file):
    model = build_model(ref(model_file, "ws_middle"), 0.5, seed=0).eval()
    kinds = conv_types(model)
    assert kinds["features.3.conv"] == "WSConv2d"
    octave = {name: (m.alpha_in, m.alpha_out) for name, m in model.named_modules() if isinstance(m, OctConv2d)}
    assert octave and "features.3.conv" not in octave
    # the region is a contiguous run entering at 0 and leaving at 0: the WS conv reads a plain tensor
    assert next(iter(octave.values()))[0] == 0.0 and list(octave.values())[-1][1] == 0.0
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()


def test_a_forward_hook_on_a_conv_still_fires_after_conversion(model_file):
    from octprofile.models.resolve import resolve

    model = resolve(ref(model_file, "ws_middle")).build_vanilla()  # any chain model; hook a plain conv in it
    calls = []
    model.features[2].conv.register_forward_hook(lambda _m, _i, out: calls.append(out.shape))
    convert(model, 0.5, "chain", (1, 3, 32, 32))
    assert type(model.features[2].conv) is nn.Conv2d
    assert not_converted(model)["features.2.conv"] == "Conv2d has forward hooks"
    calls.clear()
    with torch.no_grad():
        assert torch.isfinite(model.eval()(torch.randn(1, 3, 32, 32))).all()
    assert calls == [torch.Size([1, 32, 32, 32])]


@pytest.mark.parametrize("name, layer", [("weight_norm_middle", "features.3.conv"),
                                         ("spectral_norm_last", "features.5.conv")])
def test_a_parametrized_conv_stays_vanilla_with_real_weights_and_finite_outputs(model_file, name, layer):
    model = build_model(ref(model_file, name), 0.5, seed=0).eval()
    conv = model.get_submodule(layer)
    assert not isinstance(conv, OctConv2d)
    assert not conv.weight.is_meta and torch.isfinite(conv.weight).all()
    assert "parametrized weight" in not_converted(model)[layer]
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 3, 32, 32))).all()


def test_a_transposed_conv_in_the_region_converts_and_nothing_crashes(model_file):
    from octprofile.nn import OctConvTranspose2d

    model = build_model(ref(model_file, "transpose_middle"), 0.5, seed=0).eval()
    assert type(model.features[3].conv) is OctConvTranspose2d  # stride 1, 'same' output: the grids stay aligned
    assert not_converted(model) == {}
    vanilla = build_model(ref(model_file, "transpose_middle"), 0.0, seed=0)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in vanilla.parameters())
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()


def test_unconvertible_lists_the_layers_of_a_vanilla_model(model_file):
    from octprofile.models.resolve import resolve

    assert unconvertible(resolve(ref(model_file, "ws_middle")).build_vanilla()) == {
        "features.3.conv": "WSConv2d has its own forward"}


def test_a_model_with_nothing_convertible_is_refused_in_one_line(model_file):
    with pytest.raises(ConversionError, match=r"3 cannot be converted \(0, 1, 2\)") as caught:
        build_model(ref(model_file, "only_ws"), 0.5)
    assert "\n" not in str(caught.value)


def test_a_family_rule_that_plans_an_unconvertible_conv_is_refused_naming_its_path():
    from octprofile.models.resolve import resolve

    with torch.device("meta"):
        model = resolve("resnet18").build_vanilla()
    model.layer2.get_submodule("0.conv1").register_forward_pre_hook(lambda _m, _i: None)
    with pytest.raises(ConversionError, match=r"^cannot convert layer 'layer2\.0\.conv1' .*forward pre hooks$"):
        convert(model, 0.5, "resnet", (1, 3, 224, 224))


def test_study_results_carry_the_list(model_file):
    study = Study(ref(model_file, "ws_middle"))
    expected = {"features.3.conv": "WSConv2d has its own forward"}
    assert study.compare(0.5, fvcore=False).not_converted == expected
    assert study.layers(0.5).not_converted == expected
    check = study.check(0.5, fvcore=False)
    assert check.ok and check.not_converted == expected


@pytest.mark.parametrize("command", [["compare", "--no-time", "--no-fvcore"], ["layers"], ["check", "--no-fvcore"]])
def test_the_cli_prints_not_converted_lines(model_file, command):
    result = runner.invoke(app, [command[0], ref(model_file, "ws_middle"), *command[1:]], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "not converted: features.3.conv — WSConv2d has its own forward" in result.output


def test_the_cli_refuses_in_one_line_with_exit_2(model_file):
    result = runner.invoke(app, ["compare", ref(model_file, "only_ws"), "--no-time", "--no-fvcore"])
    assert result.exit_code == 2
    assert "cannot be converted (0, 1, 2)" in result.output


@pytest.mark.parametrize("layer", ["layer2.0.relu", "layer2.0.bn1", "layer3.1"])
def test_a_hooked_layer_inside_the_octave_region_is_refused_naming_it(layer):
    from octprofile.models.resolve import resolve

    with torch.device("meta"):
        model = resolve("resnet18").build_vanilla()
    model.get_submodule(layer).register_forward_hook(lambda _m, _i, _o: None)
    with pytest.raises(ConversionError, match=rf"^layer '{re.escape(layer)}' \(\w+\) lies inside the octave region "
                                              r"and has forward hooks: .*\(high, low\) pair"):
        convert(model, 0.5, "resnet", (1, 3, 224, 224))


def test_a_hook_outside_the_octave_region_is_kept_and_sees_tensors():
    from octprofile.models.resolve import resolve

    model = resolve("resnet18").build_vanilla()
    seen = []
    for name in ("avgpool", "fc", "conv1", "bn1"):
        model.get_submodule(name).register_forward_hook(lambda _m, inputs, _o, name=name: seen.append(
            (name, type(inputs[0]))))
    convert(model, 0.5, "resnet", (1, 3, 64, 64))
    assert isinstance(model.layer2[0].conv1, OctConv2d)
    seen.clear()  # the converter's own dry runs called them too
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, 64, 64))
    assert seen == [(name, torch.Tensor) for name in ("conv1", "bn1", "avgpool", "fc")]


def test_the_cli_refuses_a_hooked_layer_in_the_region_in_one_line(tmp_path):
    path = tmp_path / "hooked_net.py"
    path.write_text("import torchvision\n\ndef net():\n    model = torchvision.models.resnet18()\n"
                    "    model.layer2[0].relu.register_forward_hook(lambda m, i, o: None)\n    return model\n")
    result = runner.invoke(app, ["compare", f"{path}:net", "--no-time", "--no-fvcore"])
    assert result.exit_code == 2, result.output
    assert "layer 'layer2.0.relu' (ReLU) lies inside the octave region" in result.output
    assert "Traceback" not in result.output


def test_a_failure_in_a_parents_own_code_names_the_parent_not_its_last_child(model_file):
    from octprofile.models.resolve import resolve

    model = resolve(ref(model_file, "summary_middle")).build_vanilla()
    convert(model, 0.5, "chain", (1, 3, 32, 32))  # the chain is cut there; the layers cut out say where
    assert any("'features.3.1' (Summary)" in reason.text for reason in vanilla_reasons_of(model).values())


def test_a_failure_in_a_leaf_names_the_leaf():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1), nn.PixelShuffle(2),
                          nn.Conv2d(4, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.Flatten(), nn.Linear(8 * 32 * 32, 4))
    convert(model, 0.5, "chain", (1, 3, 16, 16))  # the chain is cut there; the layers cut out say where
    reasons = vanilla_reasons_of(model)
    assert reasons["1"].kind == "cut" and "'2' (PixelShuffle)" in reasons["1"].text


class _InterleavesItsConv(nn.Module):
    """Its own code takes every other channel of the map, so it cannot take the (high, low) pair."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return torch.cat([y[:, ::2], y[:, 1::2]], 1)


def test_a_layer_class_that_fails_twice_is_cut_everywhere_at_once(monkeypatch):
    """The third dry run already runs: the second failure of a class cuts all its layers, not one per run."""
    import octprofile.convert.settle as settle

    runs = []
    dry_run = settle.dry_run
    monkeypatch.setattr(settle, "dry_run", lambda *args, **kw: runs.append(1) or dry_run(*args, **kw))
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1),
                          *(m for _ in range(8) for m in (_InterleavesItsConv(8), nn.Conv2d(8, 8, 1),
                                                          nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1))),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    convert(model, 0.5, "chain", (1, 3, 8, 8))
    assert len(runs) == 3
    assert all(not isinstance(model[i].conv, OctConv2d) for i in range(3, 35, 4))
    assert sum(isinstance(m, OctConv2d) for m in model.modules()) >= 2


def test_a_model_that_needs_too_many_mends_is_refused_naming_the_last_failure(monkeypatch):
    import octprofile.convert.settle as settle

    monkeypatch.setattr(settle, "MAX_DRY_RUNS", 2)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *(m for _ in range(4) for m in (
        nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1), nn.PixelShuffle(1))), nn.Flatten(), nn.Linear(8 * 64, 4))
    with pytest.raises(ConversionError, match=r"after 2 dry runs \(the last: layer '\d+' \(PixelShuffle\)"):
        convert(model, 0.5, "chain", (1, 3, 8, 8))


class _Interleaves(nn.Module):
    def forward(self, x):
        return torch.cat([x[:, ::2], x[:, 1::2]], 1)


class _AddsASpatialMap(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("map", torch.ones(1, 1, 16, 16))

    def forward(self, x):
        return x + self.map


class _StacksTheBatch(nn.Module):
    def forward(self, x):
        return torch.cat([x, x], 0)[:1]


@pytest.mark.parametrize(("layer", "words"), [
    (_Interleaves(), "indexing the map as x[:, ::2] has no octave version; only a range of its channels (x[:, a:b]) "
                     "has"),
    (_AddsASpatialMap(), "cannot add a map of shape (1, 1, 16, 16) to the (high, low) pair of 16 channels: only a "
                          "pair, a number or a map of its channels has an octave meaning"),
    (_StacksTheBatch(), "torch.cat on the map has no octave version"),
], ids=["interleaves", "adds a spatial map", "concatenates on the batch"])
def test_a_layer_that_cannot_take_the_pair_is_named_in_the_users_terms(layer, words):
    """The cut's reason says what the layer does to the map, never a Python error about the pair's class."""
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1), layer,
                          *(nn.Conv2d(16, 16, 3, padding=1) for _ in range(3)))
    reasons = vanilla_reasons_of(convert(model, 0.5, "chain", (1, 3, 16, 16)))
    cut = {reason.text for reason in reasons.values() if reason.kind == "cut"}
    assert cut == {f"the octave region is cut at '2' ({type(layer).__name__}): {words}"}
    assert not any("OctPair" in text or "_VariableFunctionsClass" in text for text in cut)


def test_a_pool_that_meets_a_map_too_small_for_its_window_is_said_in_the_users_terms():
    """torch's own message ("Given input size … Calculated output size …") becomes what happened and what to try:
    a layer pooling the half-size low-frequency map (GhostNet v3 at 64 px)."""
    from octprofile.convert.settle import in_words

    with pytest.raises(RuntimeError) as raised:
        torch.nn.functional.avg_pool2d(torch.randn(1, 8, 1, 1), 2)
    assert in_words(raised.value) == ("a pool in it gets a map of 8x1x1 it cannot pool (it would output 8x0x0): the "
                                      "octave low-frequency map has half the vanilla side; a larger --input-size may "
                                      "run")
