"""Every dtype and layer a user brings (issue section 2): each converts and counts exactly (check passes: params
equal, analytic = FlopCounterMode ÷ 2 = fvcore), or is refused in one line naming the layer and the reason."""

import pytest
from typer.testing import CliRunner

from octprofile.cli import app

runner = CliRunner()

MODELS = '''
import torch
import torch.nn.functional as F
from torch import nn


def body(c=16):
    return [nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]


def head(c=16):
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]


def f64_net():
    m = nn.Sequential(*body(), *head()).double()
    m.input_size = 16
    return m


def bf16_net():
    m = nn.Sequential(*body(), *head()).to(torch.bfloat16)
    m.input_size = 16
    return m


def tied_net():
    layers = body()
    layers[6].weight = layers[3].weight
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


def bn_noaffine_net():
    layers = body()
    layers[4] = nn.BatchNorm2d(16, affine=False)
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


class MHA(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*body())
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.features(x)
        t = x.flatten(2).transpose(1, 2)
        t, _ = self.attn(t, t, t)
        return self.fc(t.mean(1))


def mha_net():
    m = MHA()
    m.input_size = 16
    return m


class Flow(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*body())
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.features(x)
        if x.mean() > 0:
            x = x * 2
        return self.fc(x.mean((2, 3)))


def flow_net():
    m = Flow()
    m.input_size = 16
    return m


def lazy_net():
    layers = body()
    layers[3] = nn.LazyConv2d(16, 3, padding=1)
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


class PadConv(nn.Conv2d):
    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((-(-ih // sh) - 1) * sh + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pw = max((-(-iw // sw) - 1) * sw + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def padconv_net():
    layers = body()
    layers[3] = PadConv(16, 16, 3, padding=0)
    layers[6] = PadConv(16, 16, 3, stride=2, padding=0)
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


def padconv_stem_net():
    layers = body()
    layers[0] = PadConv(3, 16, 3, stride=2)
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


def geometry_net():
    layers = body() + [nn.Conv2d(16, 16, 3, padding=0), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(16, 16, 3, padding=1)]
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


class Attention(nn.Module):
    """Cross-attention by keyword, without weights (the scaled-dot-product path), keys a quarter as many."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*body())
        self.attn = nn.MultiheadAttention(16, 4, kdim=8, vdim=12)
        self.keys, self.values = nn.Linear(16, 8), nn.Linear(16, 12)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        t = self.features(x).flatten(2).permute(2, 0, 1)
        pooled = t[::4]
        t, _ = self.attn(query=t, key=self.keys(pooled), value=self.values(pooled), need_weights=False)
        return self.fc(t.mean(0))


def cross_attention_net():
    m = Attention()
    m.input_size = 16
    return m


def gn_noaffine_net():
    layers = body()
    layers[4] = nn.GroupNorm(4, 16, affine=False)
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m


def lazy_stem_net():
    layers = body()
    layers[0] = nn.LazyConv2d(16, 3, padding=1)
    m = nn.Sequential(*layers, *head())
    m.input_size = 16
    return m
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("user_layers") / "user_layers.py"
    path.write_text(MODELS)
    return path


def check(models, name, *options):
    return runner.invoke(app, ["check", f"{models}:{name}", "--alpha", "0.5", "--no-cross-checks", *options])


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("name", ["f64_net", "bf16_net", "bn_noaffine_net", "gn_noaffine_net", "lazy_net",
                                  "mha_net", "cross_attention_net"])
def test_it_converts_and_counts_exactly(models, name):
    result = check(models, name)
    assert result.exit_code == 0, result.output
    assert "3 counters agree" in result.output


def test_attention_counts_its_projections_and_matmuls(models):
    from octprofile.analysis.counting import count_model
    from octprofile.build import build_model

    model = build_model(f"{models}:mha_net", 0.0)
    attention = count_model(model, (2, 3, 16, 16)).by_name()["attn"]
    rows, embed = 2 * 256, 16  # 2 samples of 16 x 16 positions
    assert attention.macs == 4 * rows * embed * embed + 2 * 2 * 256 * 256 * embed


def test_tied_weights_are_refused_naming_both_layers(models):
    line = one_line_error(check(models, "tied_net"))
    assert "'3' (Conv2d) shares its weight with '6'" in line and "tied" in line


def test_data_dependent_control_flow_is_named_as_such(models):
    line = one_line_error(check(models, "flow_net"))
    assert "'<model>' (Flow)" in line and "data-dependent control flow" in line
    assert "the vanilla model fails" not in line


def test_a_lazy_first_layer_is_refused_in_one_line(models):
    line = one_line_error(check(models, "lazy_stem_net"))
    assert "'0' (LazyConv2d)" in line and "in_channels" in line


def test_a_conv_that_pads_in_its_own_forward_is_refused_in_the_region_and_timed_outside_it(models):
    line = one_line_error(check(models, "padconv_net"))
    assert "cannot be converted (3, 6)" in line
    result = runner.invoke(app, ["compare", f"{models}:padconv_stem_net", "--alpha", "0.5", "--rounds", "1",
                                 "--threads", "1", "--no-fvcore", "--format", "csv",
                                 "--backend", "plain,eager,onnxruntime,openvino"])
    assert result.exit_code == 0, result.output


def test_coverage_names_the_geometry_that_ends_the_chain(models):
    result = runner.invoke(app, ["coverage", f"{models}:geometry_net", "--alpha", "0.5", "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("12,"))
    assert "geometry" in row and "padding (0, 0)" in row
