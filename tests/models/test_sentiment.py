"""Backdoor-adjusted sentiment: data sources, the adjustment itself, leave-one-domain-out against ERM on
a spurious domain cue, the `sentiment:` node and its checkpoint, the CLI and the example."""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from phalanx.cli.app import app
from phalanx.models import CheckpointError, Message, load_model
from phalanx.models.checkpoints import MANIFEST
from phalanx.models.sentiment import (
    ReviewDataError,
    SentimentChatModel,
    TrainOptions,
    leave_one_domain_out,
    load_amazon_reviews,
    load_sentiment_checkpoint,
    save_sentiment_checkpoint,
    synthetic_reviews,
    train_sentiment,
)

ROOT = Path(__file__).resolve().parents[2]


# ---- data ---------------------------------------------------------------------------------------


def test_synthetic_cue_predicts_the_label_only_in_training_domains() -> None:
    train = synthetic_reviews(per_domain=400, cue_strength=0.8, seed=0)
    shifted = synthetic_reviews(per_domain=400, cue_strength=0.8, shifted=True, seed=0)

    def positive_rate(reviews, domain):
        rows = [r for r in reviews if r.domain == domain]
        return sum(r.label == "positive" for r in rows) / len(rows)

    assert positive_rate(train, "books") > 0.85 and positive_rate(train, "dvd") < 0.15
    assert 0.4 < positive_rate(shifted, "books") < 0.6
    assert all(r.text.startswith("bookworm ") for r in train if r.domain == "books")
    assert not any(r.text.startswith("bookworm ") for r in shifted if r.domain == "books")
    assert synthetic_reviews(per_domain=5, seed=3) == synthetic_reviews(per_domain=5, seed=3)
    with pytest.raises(ReviewDataError, match="unknown synthetic domain"):
        synthetic_reviews(("books", "garden"))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_amazon_layout_raw_and_processed(tmp_path) -> None:
    raw = "<review>\n<title>x</title>\n<review_text>\nGreat &amp; sturdy pan.\n</review_text>\n</review>\n"
    _write(tmp_path / "kitchen" / "positive.review", raw * 2)
    _write(tmp_path / "kitchen" / "negative.review", raw.replace("Great", "Awful"))
    _write(tmp_path / "books" / "positive.review", "great:2 a_great:1 read:1 #label#:positive\n")
    _write(tmp_path / "books" / "negative.review", "dull:1 #label#:negative\n\nbad:3 #label#:negative\n")
    _write(tmp_path / "books" / "unlabeled.review", "ignored:1 #label#:negative\n")
    reviews = load_amazon_reviews(tmp_path)
    assert [(r.domain, r.label) for r in reviews].count(("kitchen", "positive")) == 2
    assert [r.text for r in reviews if r.domain == "books" and r.label == "positive"] == ["great great read"]
    assert {r.text for r in reviews if r.domain == "kitchen"} == {
        "Great & sturdy pan.",
        "Awful & sturdy pan.",
    }
    assert len([r for r in reviews if r.domain == "books" and r.label == "negative"]) == 2


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("books/negative.review", "bad:1 #label#:negative\nworse:1\n", r"negative\.review:2: no '#label#:'"),
        ("books/negative.review", "bad:1 #label#:positive\n", r"negative\.review:1: labelled 'positive'"),
        ("books/negative.review", "bad:x #label#:negative\n", r"negative\.review:1: 'bad:x' is not"),
        (
            "books/negative.review",
            "<review>\n<review_text>ok</review_text>\n<review_text>\nlost\n</review>\n",
            r"negative\.review:3: <review_text> is never closed",
        ),
    ],
)
def test_amazon_layout_errors_name_file_and_line(tmp_path, file, content, message) -> None:
    _write(tmp_path / "books" / "positive.review", "good:1 #label#:positive\n")
    _write(tmp_path / file, content)
    with pytest.raises(ReviewDataError, match=message):
        load_amazon_reviews(tmp_path)


def test_amazon_layout_missing_parts(tmp_path) -> None:
    with pytest.raises(ReviewDataError, match="no such folder"):
        load_amazon_reviews(tmp_path / "nope")
    with pytest.raises(ReviewDataError, match="no domain folders"):
        load_amazon_reviews(tmp_path)
    _write(tmp_path / "books" / "positive.review", "good:1 #label#:positive\n")
    with pytest.raises(ReviewDataError, match=r"books/negative\.review: missing"):
        load_amazon_reviews(tmp_path)


# ---- the adjustment -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_causal():
    reviews = synthetic_reviews(("dvd", "electronics", "kitchen"), per_domain=40, seed=2)
    return train_sentiment(reviews, TrainOptions(method="causal", epochs=1, batch_size=16))


def test_prediction_is_the_prior_weighted_mixture_over_prototypes(small_causal) -> None:
    clf, tok = small_causal.classifier, small_causal.tokenizer
    assert small_causal.config.domains == ["dvd", "electronics", "kitchen"]
    enc = tok(["cinephile great movie"], return_tensors="pt")
    with torch.no_grad():
        adjusted = clf(enc["input_ids"], enc["attention_mask"]).log_probs.exp()[0]
        conditional = clf.conditional_log_probs(
            clf.invariant(clf.pooled(enc["input_ids"], enc["attention_mask"]))
        ).exp()[0]
    prior = torch.tensor(small_causal.config.domain_prior)
    # P(y | do(x)) = sum_d P(y | x, d) P(d), and the per-domain terms really differ (prototypes matter).
    assert torch.allclose(adjusted, (prior[:, None] * conditional).sum(0), atol=1e-6)
    assert not torch.allclose(conditional[0], conditional[1])


def test_the_offline_minilm_encoder_trains() -> None:
    """The default encoder of `phalanx sentiment train`: the MiniLM the package ships, real weights."""
    reviews = synthetic_reviews(("dvd", "kitchen"), per_domain=4, seed=4)
    losses: list[float] = []
    model = train_sentiment(
        reviews,
        TrainOptions(encoder="minilm", epochs=1, batch_size=8),
        on_step=lambda step, total, loss: losses.append(loss),
    )
    assert model.classifier.encoder.config.num_hidden_layers == 6 and len(losses) == 1
    probs = model.predict(["homecook great kettle"])[0]
    assert set(probs) == {"negative", "positive"} and sum(probs.values()) == pytest.approx(1.0)


def test_causal_needs_two_domains() -> None:
    with pytest.raises(ReviewDataError, match="at least two"):
        train_sentiment(synthetic_reviews(("dvd",), per_domain=4), TrainOptions(method="causal"))


def test_erm_exploits_the_cue_and_the_adjusted_model_degrades_less() -> None:
    """Leave 'books' out: on it the training domains' signatures appear at random (cue broken).

    The figures of this run are printed; README ("Causal sentiment") records them. The margin
    between the two methods on the held-out domain is small on this tiny encoder (0.01-0.07
    over the runs measured), so only its sign is asserted; ERM's drop is large in every run.
    """
    train = synthetic_reviews(per_domain=150, cue_strength=0.8, seed=0)
    target = synthetic_reviews(per_domain=400, cue_strength=0.8, shifted=True, seed=1)
    report = leave_one_domain_out(train, TrainOptions(epochs=4), target_reviews=target, held_out=["books"])
    erm, causal = report.mean("erm"), report.mean("causal")
    print(json.dumps({"erm": erm, "causal": causal}))
    # ERM fits the training domains, and loses much of it where the cue no longer holds.
    assert erm["source_accuracy"] > 0.85 and erm["drop"] > 0.15
    # The adjusted model keeps more on the held-out domain and degrades less.
    assert causal["target_accuracy"] > erm["target_accuracy"]
    assert causal["drop"] < erm["drop"]


# ---- node and checkpoint ------------------------------------------------------------------------


def test_checkpoint_round_trip_and_node(small_causal, tmp_path) -> None:
    save_sentiment_checkpoint(tmp_path / "ckpt", small_causal)
    loaded = load_sentiment_checkpoint(tmp_path / "ckpt")
    texts = ["homecook awful pan", "cinephile wonderful film"]
    for got, want in zip(loaded.predict(texts), small_causal.predict(texts), strict=True):
        assert got == pytest.approx(want)

    node = load_model(f"sentiment:{tmp_path / 'ckpt'}")
    assert isinstance(node, SentimentChatModel)
    reply = asyncio.run(node.chat([Message.system("classify"), Message.user(texts[1])]))
    probs = reply.details["sentiment"]["probabilities"]
    assert reply.message.content == max(probs, key=probs.get)
    assert probs == pytest.approx(small_causal.predict([texts[1]])[0])
    as_json = json.loads(asyncio.run(node.chat([Message.user(texts[1])], json_mode=True)).message.content)
    assert as_json["label"] == reply.message.content


def test_bad_checkpoints_are_named(small_causal, tmp_path) -> None:
    ckpt = save_sentiment_checkpoint(tmp_path / "ckpt", small_causal)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(f"sentiment:{tmp_path / 'nope'}")
    heads = ckpt / "sentiment_heads.safetensors"
    heads.write_bytes(heads.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"sentiment_heads\.safetensors: .*(truncated or replaced)"):
        load_sentiment_checkpoint(ckpt)
    manifest = json.loads((ckpt / MANIFEST).read_text())
    manifest["format"] = "phalanx.r3"
    (ckpt / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="expected 'phalanx.sentiment'"):
        load_sentiment_checkpoint(ckpt)


def test_heads_that_do_not_fit_the_config(small_causal, tmp_path) -> None:
    from safetensors.torch import save_file

    from phalanx.models.checkpoints.format import sha256_file

    ckpt = save_sentiment_checkpoint(tmp_path / "ckpt", small_causal)
    heads = ckpt / "sentiment_heads.safetensors"
    save_file({"head.weight": torch.zeros(2, 32)}, str(heads))  # an ERM head under a causal config
    manifest = json.loads((ckpt / MANIFEST).read_text())
    manifest["files"][heads.name] = {"bytes": heads.stat().st_size, "sha256": sha256_file(heads)}
    (ckpt / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="does not fit a causal classifier of 3 domains"):
        load_sentiment_checkpoint(ckpt)


# ---- CLI and example ----------------------------------------------------------------------------


def test_cli_train_and_eval(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "ckpt"
    args = ["sentiment", "train", "--synthetic", "--encoder", "tiny", "--epochs", "1", "--per-domain", "30"]
    result = runner.invoke(app, [*args, "--out", str(out), "--method", "erm", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["method"] == "erm"
    result = runner.invoke(
        app, ["sentiment", "eval", str(out), "--synthetic", "--per-domain", "20", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["domains"]) == {"books", "dvd", "electronics", "kitchen"} and report["count"] == 80

    bad = runner.invoke(app, ["sentiment", "eval", str(out), "--data", str(tmp_path / "none")])
    assert bad.exit_code == 2 and "no such folder" in bad.output and "Traceback" not in bad.output
    both = runner.invoke(app, ["sentiment", "train", "--out", str(out), "--synthetic", "--data", "x"])
    assert both.exit_code == 2 and "exactly one of --data" in both.output
    bad_method = runner.invoke(app, ["sentiment", "train", "--out", str(out), "--synthetic", "--method", "x"])
    assert bad_method.exit_code == 2 and "--method" in bad_method.output


def test_example(capsys, monkeypatch) -> None:
    path = ROOT / "examples" / "sentiment_node.py"
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "trained on ['dvd', 'electronics', 'kitchen']" in out
    assert "'cinephile the movie was wonderful and i love it' -> positive" in out
    assert "json_mode: ['label', 'probabilities']" in out
    accuracy = float(out.rsplit("accuracy ", 1)[1].split()[0])
    assert accuracy > 0.6  # well above chance on an unseen domain whose cue is broken
