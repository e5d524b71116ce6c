"""Linguistic regions on a tiny model: the importance is the accumulated |grad ⊙ param|, regions are
per-matrix top/bottom/random shares of block matrices, ablation restores exactly, the frozen region is
bit-identical after training, and the region-frozen checkpoint reloads through `regions:`."""

from __future__ import annotations

import pytest
import torch

from phalanx.models import CheckpointError, load_model
from phalanx.models.checkpoints import RegionInfo, RegionMask
from phalanx.models.trainers import (
    FreezeTrainSettings,
    RegionSearchSettings,
    ablated,
    ablation_report,
    dimension_concentration,
    find_regions,
    language_blocks,
    language_importance,
    load_region_masks,
    load_trainable,
    monolingual_region,
    perplexity,
    region_parameters,
    save_region_frozen,
    save_region_masks,
    score_languages,
    select_region,
    train_region_frozen,
)

TEXTS = {
    "aa": [f"alpha beta gamma {i} the quick brown fox jumps over the lazy dog" for i in range(40)],
    "bb": [f'{{"type": "answer", "content": {i}}} 0123456789 + - * / =' for i in range(40)],
}


@pytest.fixture()
def tiny(tiny_model_dir):
    return load_trainable(str(tiny_model_dir))


def _blocks(tokenizer, count=4, offset=0):
    return language_blocks(tokenizer, TEXTS, seq_len=16, count=count, offset=offset)


def test_importance_is_the_accumulated_gradient_times_the_parameter(tiny) -> None:
    model, tokenizer = tiny
    blocks = _blocks(tokenizer)["aa"]
    scores = language_importance(model, blocks, batch_size=3)  # batches of 3 and 1: same sum
    # By hand: one block at a time, gradients summed, then |grad ⊙ param|.
    grads = {name: torch.zeros_like(p) for name, p in region_parameters(model).items()}
    for block in blocks:
        model.zero_grad()
        ids = torch.tensor([block])
        model(input_ids=ids, labels=ids).loss.backward()
        for name, p in region_parameters(model).items():
            grads[name] += p.grad
    model.zero_grad(set_to_none=True)
    assert set(scores) == set(grads)
    for name, p in region_parameters(model).items():
        torch.testing.assert_close(scores[name], (grads[name] * p.detach()).abs(), rtol=1e-4, atol=1e-9)
    assert all(p.grad is None for p in model.parameters())  # nothing left behind, no step taken


def test_regions_cover_only_block_matrices_per_matrix(tiny) -> None:
    model, tokenizer = tiny
    names = set(region_parameters(model))
    assert names and all("layers." in n and "norm" not in n for n in names)
    assert not any("embed" in n or "lm_head" in n for n in names)
    scores = score_languages(model, _blocks(tokenizer), keep_per_language=True)
    for name in scores.total:  # the total is the sum of the languages' scores
        torch.testing.assert_close(
            scores.total[name], scores.per_language["aa"][name] + scores.per_language["bb"][name]
        )
    top = select_region(scores, fraction=0.05, selection="top")
    bottom = select_region(scores, fraction=0.05, selection="bottom")
    random = select_region(scores, fraction=0.05, selection="random", seed=1)
    for name, score in scores.total.items():
        k = int(0.05 * score.numel())
        for region in (top, bottom, random):
            assert int(region.masks[name].sum()) == k  # the share holds in EVERY matrix
        chosen, rest = score[top.masks[name]], score[~top.masks[name]]
        assert chosen.min() >= rest.max()
        assert score[bottom.masks[name]].max() <= score[~bottom.masks[name]].min()
    assert not all(torch.equal(random.masks[n], top.masks[n]) for n in names)
    assert top.info.selection == "top" and top.info.languages == ["aa", "bb"]
    with pytest.raises(ValueError, match="fraction must be in"):
        select_region(scores, fraction=0)


def test_monolingual_region_excludes_the_other_languages_top(tiny) -> None:
    model, tokenizer = tiny
    scores = score_languages(model, _blocks(tokenizer), keep_per_language=True)
    mono = monolingual_region(scores, "aa", fraction=0.05)
    own = select_region(type(scores)(scores.per_language["aa"], ["aa"], 4), fraction=0.05)
    other = select_region(type(scores)(scores.per_language["bb"], ["bb"], 4), fraction=0.05)
    for name, mask in mono.masks.items():
        assert torch.equal(mask, own.masks[name] & ~other.masks[name])
    assert 0 < mono.fraction < 0.05 and mono.info.selection == "monolingual"
    with pytest.raises(ValueError, match="keep_per_language"):
        monolingual_region(score_languages(model, _blocks(tokenizer)), "aa")


def test_dimension_concentration_finds_the_crowded_row_and_hidden_dimension() -> None:
    writer = torch.zeros(8, 4, dtype=torch.bool)  # o_proj: rows are hidden dimensions (hidden size 8)
    writer[5, :] = True
    reader = torch.zeros(6, 8, dtype=torch.bool)  # q_proj: columns are hidden dimensions
    reader[:, 5] = True
    reader[0, 1] = True
    mask = RegionMask(
        {"model.layers.0.self_attn.o_proj.weight": writer, "model.layers.0.self_attn.q_proj.weight": reader},
        RegionInfo(),
    )
    report = dimension_concentration(mask, top=1, hidden_size=8)
    o_proj, q_proj = report.matrices
    assert o_proj.top_rows == [(5, 4)] and o_proj.top_row_share == 1.0 and o_proj.uniform_share == 1 / 8
    assert q_proj.top_cols == [(5, 6)] and q_proj.top_col_share == pytest.approx(6 / 7)
    assert report.hidden_dims == [(5, 10)] and report.hidden_share == pytest.approx(10 / 11)


def test_ablation_zeroes_or_perturbs_and_restores_exactly(tiny) -> None:
    model, tokenizer = tiny
    blocks = _blocks(tokenizer)
    scores = score_languages(model, blocks)
    core = select_region(scores, fraction=0.2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    intact = perplexity(model, blocks["aa"])
    with ablated(model, core, mode="zero"):
        params = dict(model.named_parameters())
        assert all(bool((params[n][m] == 0).all()) for n, m in core.masks.items())
        assert perplexity(model, blocks["aa"]) != intact
    with ablated(model, core, mode="perturb", scale=0.5):
        params = dict(model.named_parameters())
        assert any(not torch.equal(params[n][m], before[n][m]) for n, m in core.masks.items())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    report = ablation_report(model, blocks, {"core": core})
    assert set(report.perplexity) == {"intact", "core"} and report.perplexity["intact"][
        "aa"
    ] == pytest.approx(intact)
    assert report.ratio["core"]["bb"] == pytest.approx(
        report.perplexity["core"]["bb"] / report.perplexity["intact"]["bb"]
    )
    wrong = RegionMask(
        {"model.layers.0.mlp.up_proj.weight": torch.ones(2, 2, dtype=torch.bool)}, RegionInfo()
    )
    with pytest.raises(CheckpointError, match="has shape"), ablated(model, wrong):
        pass


def test_perplexity_is_exp_of_the_mean_token_loss(tiny) -> None:
    model, tokenizer = tiny
    block = _blocks(tokenizer, count=1)["aa"]
    ids = torch.tensor(block)
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert perplexity(model, block) == pytest.approx(float(torch.exp(loss)), rel=1e-5)


def test_frozen_region_is_bit_identical_after_training_and_unfrozen_one_is_not(tiny_model_dir) -> None:
    settings = FreezeTrainSettings(steps=4, batch_size=2, learning_rate=1e-2, weight_decay=0.1)
    trained = {}
    for frozen in (True, False):
        model, tokenizer = load_trainable(str(tiny_model_dir))
        blocks = _blocks(tokenizer)
        core = select_region(score_languages(model, blocks), fraction=0.05)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        result = train_region_frozen(model, blocks["bb"], core if frozen else None, settings)
        assert len(result.losses) == 4 and all(
            loss == loss for loss in result.losses
        )  # finite, logged per step
        params = dict(model.named_parameters())
        same = all(torch.equal(params[n][m], before[n][m]) for n, m in core.masks.items())
        outside_moved = all(not torch.equal(params[n][~m], before[n][~m]) for n, m in core.masks.items())
        trained[frozen] = (same, outside_moved, result.region_intact)
    assert trained[True] == (True, True, True)
    assert trained[False][0] is False and trained[False][2] is None  # without freezing the region moves


def test_end_to_end_find_save_train_and_reload_through_regions(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    regions = find_regions(
        model, tokenizer, TEXTS, RegionSearchSettings(samples=4, seq_len=16, monolingual=True)
    )
    assert set(regions) == {"core", "bottom", "random", "mono-aa", "mono-bb"}
    folder = save_region_masks(tmp_path / "masks", regions)
    loaded = load_region_masks(folder, ["core"])["core"]
    assert all(torch.equal(loaded.masks[n], regions["core"].masks[n]) for n in regions["core"].masks)
    assert loaded.info.samples == 4 and loaded.info.seq_len == 16
    with pytest.raises(CheckpointError, match="no region 'nope'; have: core"):
        load_region_masks(folder, ["nope"])
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    blocks = _blocks(tokenizer, count=2, offset=4)["aa"]
    train_region_frozen(model, blocks, loaded, FreezeTrainSettings(steps=2, batch_size=2, learning_rate=1e-2))
    out = save_region_frozen(
        tmp_path / "ckpt", model, tokenizer, loaded, base_model="tiny", trained_on=["aa"]
    )
    reloaded = load_model(f"regions:{out}?dtype=float32")
    mask = reloaded.region_mask
    assert (
        mask.info.trained_on == ["aa"]
        and mask.info.selection == "top"
        and mask.info.languages == ["aa", "bb"]
    )
    params = dict(reloaded.model.named_parameters())
    for name, m in mask.masks.items():
        assert torch.equal(m, loaded.masks[name])
        assert torch.equal(params[name][m], original[name][m])  # frozen through training, saving and loading
    assert any(not torch.equal(params[n], original[n]) for n in mask.masks)  # the rest trained
