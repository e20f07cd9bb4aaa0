"""The paper's ablations: dropped inter-octave paths and strided down-sampling, built, counted, checked,
prepared and compared with vanilla and with the full OctConv."""

import pytest
import torch
from torch import nn

from octprofile import build_model, prepare
from octprofile.analysis.counting import count_model
from octprofile.analysis.crosscheck import fvcore_count
from octprofile.nn import ABLATIONS, FULL, OctConv2d, OctDesign
from octprofile.nn.meta import materialised
from octprofile.runtime.timing import TimingOptions
from octprofile.study import Study, StudyOptions

QUICK = TimingOptions(device="cpu", threads=1, rounds=2, min_run_time=0.01, warmup=1)
NO_HL, NO_LH, NEITHER, STRIDED = (OctDesign(hl=False), OctDesign(lh=False), OctDesign(hl=False, lh=False),
                                  OctDesign(downsample="strided"))


def octconvs(model: nn.Module) -> dict[str, OctConv2d]:
    return {name: m for name, m in model.named_modules() if isinstance(m, OctConv2d)}


@pytest.mark.parametrize("model, size", [("resnet20_cifar", 32), ("resnet56_cifar", 32), ("resnet50", 64)])
@pytest.mark.parametrize("alpha", [0.125, 0.5])
@pytest.mark.parametrize("design", [*ABLATIONS, OctDesign(hl=False, downsample="strided")], ids=lambda d: d.name)
def test_three_counters_agree_for_every_design(model, size, alpha, design):
    from torch.utils.flop_counter import FlopCounterMode

    # counts depend on shapes only: real tensors (fvcore needs them) without paying for their initialisation
    built = materialised(build_model(model, alpha, device="meta", input_size=size, design=design))
    shape = (1, 3, size, size)
    counter = FlopCounterMode(display=False)
    count = count_model(built, shape, observers=(counter,))
    assert counter.get_total_flops() == 2 * count.macs
    assert fvcore_count(built, shape).macs == count.macs


@pytest.mark.parametrize("design, dropped", [(NO_HL, {"hl"}), (NO_LH, {"lh"}), (NEITHER, {"hl", "lh"})],
                         ids=["no-hl", "no-lh", "no-exchange"])
def test_a_dropped_path_has_no_weights_and_no_macs(design, dropped):
    shape = (1, 3, 64, 64)
    full = build_model("resnet50", 0.5, device="meta", input_size=64)
    ablated = build_model("resnet50", 0.5, device="meta", input_size=64, design=design)
    full_layers = count_model(full, shape).by_name()
    ablated_count = count_model(ablated, shape)
    removed_params = removed_macs = 0
    for name, conv in octconvs(ablated).items():
        both_sides = conv.in_split.low and conv.out_split.low
        reference = octconvs(full)[name]
        for path in dropped:
            kept = getattr(conv, path) is not None
            assert kept == (not both_sides and getattr(reference, path) is not None), (name, path)
            if not kept and getattr(reference, path) is not None:
                removed_params += getattr(reference, path).weight.numel()
                removed_macs += full_layers[name].paths[path]
        if both_sides:
            assert not set(ablated_count.by_name()[name].paths) & dropped
    vanilla_params = sum(p.numel() for p in build_model("resnet50", 0.0, device="meta").parameters())
    assert removed_params > 0
    assert ablated_count.params == vanilla_params - removed_params
    assert ablated_count.params_dropped == removed_params
    assert ablated_count.macs == count_model(full, shape).macs - removed_macs


def test_strided_downsampling_keeps_params_and_macs_but_not_outputs():
    shape = (2, 3, 64, 64)
    pooled = build_model("resnet50", 0.5, input_size=64, seed=0).eval()
    strided = build_model("resnet50", 0.5, input_size=64, seed=0, design=STRIDED).eval()
    assert sum(p.numel() for p in strided.parameters()) == sum(p.numel() for p in pooled.parameters())
    counts = {name: count_model(m, shape) for name, m in (("pooled", pooled), ("strided", strided))}
    assert counts["strided"].macs == counts["pooled"].macs
    assert counts["strided"].other["pool"] < counts["pooled"].other["pool"]
    # same weights (both converted from the same seeded vanilla model), different sampling; the pooled model
    # also holds layer4.0.conv2 as a (0, 0) octave conv, so the two state dicts differ in that layer's names
    same = set(pooled.state_dict()) & set(strided.state_dict())
    assert all(torch.equal(pooled.state_dict()[k], strided.state_dict()[k]) for k in same) and len(same) > 300
    x = torch.randn(shape)
    with torch.no_grad():
        assert not torch.allclose(pooled(x), strided(x), atol=1e-3)
    assert any(conv.hl is not None and conv.hl.stride == (2, 2) for conv in octconvs(strided).values())


def test_the_full_design_is_the_default_and_entering_leaving_layers_keep_their_exchange():
    default = build_model("resnet50", 0.5, device="meta")
    neither = build_model("resnet50", 0.5, device="meta", design=NEITHER)
    assert all(conv.design == FULL for conv in octconvs(default).values())
    convs = octconvs(neither)
    assert convs["layer1.0.conv1"].hl is not None  # enters the octave: makes the low map
    assert convs["layer4.0.conv1"].lh is not None  # leaves it: reads the low map
    assert convs["layer2.1.conv2"].hl is None and convs["layer2.1.conv2"].lh is None


@pytest.mark.parametrize("design", [NEITHER, STRIDED, OctDesign(lh=False, downsample="strided")],
                         ids=lambda d: d.name)
def test_prepared_ablated_models_give_the_built_models_outputs(design):
    model = build_model("resnet20_cifar", 0.5, design=design, seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(prepare(model, x, "eager").runner(x), model(x), rtol=1e-4, atol=1e-4)


def test_ablate_rows_compare_with_vanilla_and_with_full():
    result = Study("resnet20_cifar").ablate(0.125, fvcore=True, timing=QUICK)
    assert [row.variant for row in result.rows] == ["vanilla", "full", "no-hl", "no-lh", "no-exchange", "strided"]
    vanilla, full = result.row("vanilla"), result.row("full")
    assert vanilla.mac_ratio_vs_full is None and vanilla.latency_ratio_vs_full is None
    for row in result.rows:
        assert row.counts_agree and row.macs_fvcore == row.macs
        assert row.params == vanilla.params - row.params_dropped
        assert row.params_ratio == row.params / vanilla.params
        if row.alpha > 0:
            assert row.mac_ratio_vs_full == row.macs / full.macs
            assert row.activation_ratio_vs_full == row.activations / full.activations
            assert row.latency_ratio_vs_full > 0 and row.latency_ratio > 0
    assert result.row("no-exchange").macs < result.row("no-hl").macs < full.macs
    assert result.row("strided").macs == full.macs and result.row("strided").params_dropped == 0
    assert result.alpha == 0.125


def test_ablate_adds_full_and_refuses_alpha_zero():
    result = Study("resnet20_cifar").ablate(0.5, [NO_HL], fvcore=False)
    assert [row.variant for row in result.rows] == ["vanilla", "full", "no-hl"]
    with pytest.raises(ValueError, match="above 0"):
        Study("resnet20_cifar").ablate(0.0)


def test_a_study_design_reaches_compare_and_check():
    study = Study("resnet20_cifar", StudyOptions(design=NO_LH))
    row = study.compare(0.5, fvcore=False).row("oct")
    assert row.design == "no-lh" and row.params_dropped > 0 and not row.params_equal
    check = study.check(0.5, fvcore=False)
    assert check.ok and check.params_oct == check.params_vanilla - check.params_dropped
    assert check.design == "no-lh"


def test_check_still_fails_when_params_differ_from_the_expected_drop():
    from octprofile.results import CheckResult

    result = CheckResult.of("m", 0.5, 1000, 900, 10, 20, None, "no-hl", 50)
    assert not result.ok and "− 50 in dropped paths = 950" in result.failures[0]
    assert not CheckResult.of("m", 0.5, 1000, 950, 10, 21, None, "no-hl", 50).ok  # counters disagree
    assert CheckResult.of("m", 0.5, 1000, 950, 10, 20, None, "no-hl", 50).ok
