"""The emoji captioner: the model's shapes, its causal and padding masks, batched greedy decoding
(= a beam of one, never a suppressed token), the caption tokenisation round trip on every emoji
name, the scores and baselines, bad configs, and the --smoke run end to end."""
import dataclasses
import json

import numpy as np
import pytest

import macrograd as mg
from macrograd.experiments import captioning
from macrograd.models.captioner import ImageCaptioner
from macrograd.models.generation import greedy_search
from experiment_helpers import data_folder  # noqa: F401 (data_folder is autouse)

PAD, BOS, EOS, VOCAB = 0, 2, 3, 11


def tiny_model(**changes):
    mg.manual_seed(0)
    settings = dict(d_model=16, nhead=2, num_decoder_layers=2, dim_feedforward=32, image_size=16, widths=(4, 8, 8),
                    max_len=12, pad_idx=PAD)
    return ImageCaptioner(VOCAB, **{**settings, **changes}).eval()  # eval: no dropout, BN running stats


def logits(model, x, tokens):
    with mg.no_grad():
        return model(x, mg.tensor(np.asarray(tokens))).numpy()


def images(n, size=16, seed=0):
    return mg.tensor(np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32))


# -- the model -------------------------------------------------------------------------------------
def test_shapes_and_the_feature_grid():
    model = tiny_model()
    x = images(3)
    tokens = mg.tensor(np.array([[BOS, 5, 6, 7], [BOS, 8, EOS, PAD], [BOS, 4, PAD, PAD]]))
    assert model.grid_shape == (4, 4)
    assert model.encode(x).shape == (3, 16, 16)  # 16 cells of d_model features
    assert model(x, tokens).shape == (3, 4, VOCAB)
    assert model.generator.weight is model.embedding.weight  # tied
    with pytest.raises(ValueError, match=r"ImageCaptioner: images of \(32, 32\) pixels give a \(8, 8\) grid"):
        model.encode(images(1, size=32))
    with pytest.raises(ValueError, match="ImageCaptioner: expected token ids"):
        model(x, mg.tensor(np.zeros((3, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match="image_size must be a positive multiple of 4"):
        ImageCaptioner(VOCAB, image_size=30)


def test_decoder_is_causal_and_reads_the_image():
    """Changing token t changes no logit before t; changing the image changes them all."""
    model = tiny_model()
    x = images(2)
    tokens = np.array([[BOS, 4, 5, 6, 7], [BOS, 8, 9, 10, 4]])
    base = logits(model, x, tokens)
    for t in range(1, tokens.shape[1]):
        changed = tokens.copy()
        changed[:, t] = 4 + (changed[:, t] - 1) % (VOCAB - 4)  # another word id (4..10)
        out = logits(model, x, changed)
        np.testing.assert_allclose(out[:, :t], base[:, :t], rtol=1e-5, atol=1e-6)
        assert not np.allclose(out[:, t:], base[:, t:])
    other = logits(model, images(2, seed=1), tokens)
    assert np.abs(other - base).max(axis=-1).min() > 1e-4


def test_padding_and_batching_do_not_change_a_caption():
    """A caption's logits are the same alone, right-padded, or beside other captions and images."""
    model = tiny_model()
    x = images(2)
    alone = logits(model, x[:1], [[BOS, 5, 6]])
    batch = logits(model, x, [[BOS, 5, 6, PAD, PAD], [BOS, 7, 8, 9, 10]])
    np.testing.assert_allclose(batch[:1, :3], alone, rtol=1e-5, atol=1e-5)


def test_greedy_decode_is_a_beam_of_one_and_suppresses_tokens():
    model = tiny_model()
    x = images(3)
    banned = (PAD, 1, BOS, 5)
    ids = model.greedy_decode(x, BOS, EOS, max_len=6, suppress_tokens=banned).numpy()
    assert ids.shape[0] == 3 and ids.shape[1] <= 7 and (ids[:, 0] == BOS).all()
    for i in range(3):
        row = ids[i, 1:].tolist()
        generated = row[:row.index(EOS) + 1] if EOS in row else row
        assert not set(generated) & set(banned)
        (beam, _), = model.beam_search(x[i], BOS, EOS, beam_size=1, max_len=6, suppress_tokens=banned)
        assert beam.tolist() == generated
    # block_repeats: never the same token twice in a row (on a model that loves one token)
    with mg.no_grad():
        model.generator.bias.fill_(0.0)
        model.generator.bias[6] = 50.0
    ids = model.greedy_decode(x, BOS, EOS, max_len=6, block_repeats=True).numpy()
    assert (ids[:, 1] == 6).all() and (ids[:, 2] != 6).all() and (ids[:, 1:] != ids[:, :-1]).all()
    (beam, _), = model.beam_search(x[0], BOS, EOS, beam_size=2, max_len=6, block_repeats=True)
    assert (beam[1:] != beam[:-1]).numpy().all()


def test_greedy_search_stops_at_eos_and_pads_after_it():
    """A step function with known next tokens: row 0 ends at once, row 1 after two tokens."""
    script = {1: [EOS, 5], 2: [7, 6], 3: [7, EOS], 4: [9, 9]}  # prefix length -> argmax per row

    def step(tokens):
        logits = np.zeros((2, VOCAB), dtype=np.float32)
        logits[[0, 1], script[tokens.shape[1]]] = 1.0
        return mg.tensor(logits)

    assert greedy_search(step, 2, BOS, EOS, max_len=5, pad_id=PAD).tolist() == [[BOS, EOS, PAD, PAD], [BOS, 5, 6, EOS]]
    assert greedy_search(step, 2, BOS, EOS, max_len=1, pad_id=PAD).tolist() == [[BOS, EOS], [BOS, 5]]
    with pytest.raises(ValueError, match="greedy_search: batch_size and max_len must be >= 1"):
        greedy_search(step, 2, BOS, EOS, max_len=0)


# -- captions as text ------------------------------------------------------------------------------
def test_caption_tokenisation_round_trip_on_every_emoji_name():
    """encode -> decode -> caption_text gives the name back (lower-cased): word for word for all
    names, and character for character for all but the 4 the docstring names."""
    from macrograd.data import load_emoji
    from macrograd.text import WordTokenizer

    names = sorted(set(load_emoji().names))
    tok = WordTokenizer.from_texts(names, min_freq=1)
    inexact = []
    for name in names:
        ids = tok.encode(name, add_special_tokens=True)
        assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id and tok.unk_id not in ids
        text = captioning.caption_text(tok.decode(ids, skip_special_tokens=True).split())
        assert tok.tokenize(text) == tok.tokenize(name)
        if text != name.lower():
            inexact.append(name)
    assert sorted(inexact) == ["congo - brazzaville flag", "congo - kinshasa flag", "u.s. outlying islands flag",
                               "u.s. virgin islands flag"]
    assert captioning.caption_text(["flag", ":", "germany"]) == "flag: germany"
    assert captioning.caption_text(["couple", "with", "heart", ":", "man", ",", "man"]) == "couple with heart: man, man"
    assert captioning.caption_text(["hear", "-", "no", "-", "evil", "monkey"]) == "hear-no-evil monkey"


def test_word_scores_and_per_word():
    hyps = ["man face", "flag: germany", "man"]
    refs = ["woman face", "flag: germany", "man cook"]
    s = captioning.word_scores(hyps, refs)
    assert s["word_precision"] == pytest.approx(4 / 5)  # face, flag, germany, man of 5 said
    assert s["word_recall"] == pytest.approx(4 / 6)
    assert s["exact_match"] == pytest.approx(1 / 3)
    table = captioning.per_word(hyps, refs, top=10)
    assert table["man"] == {"test_captions": 1, "recall": 1.0, "precision": 0.5, "predicted": 2}
    assert table["face"]["recall"] == 1.0 and table["cook"]["recall"] == 0.0
    long = ["couple with heart: woman, man", "face with stuck-out tongue"]  # BLEU needs 4-grams
    assert captioning.bleu(long, long) == pytest.approx(100.0)


# -- the experiment --------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"image_size": 24}, r"captioning: image_size must be one of \(8, 16, 32, 64\), got 24"),
    ({"d_model": 30, "nhead": 4}, "captioning: d_model must be a positive multiple of nhead=4"),
    ({"widths": (8, 16)}, "captioning: widths must be 3 positive channel counts"),
    ({"test_fraction": 1.0}, r"captioning: test_fraction must be in \(0, 1\)"),
    ({"epochs": 0}, "captioning: epochs must be >= 1"),
    ({"shift": -1}, "captioning: shift must be >= 0"),
])
def test_bad_configs_name_the_option(change, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        captioning.run(dataclasses.replace(captioning.Config(), **change), tmp_path)
    assert not (tmp_path / "config.json").exists()  # refused before writing anything


def test_smoke_run_writes_the_run_folder_and_resumes(tmp_path):
    config = dataclasses.replace(captioning.Config(), **captioning.SMOKE)
    summary = captioning.run(config, tmp_path)
    for key in ("bleu_greedy", "bleu_beam2", "greedy", "beam2", "baselines", "words_greedy", "best_val_loss",
                "best_epoch", "train_seconds", "parameters", "test_images", "vocabulary"):
        assert key in summary, key
    assert set(summary["baselines"]) == {"most_frequent_caption", "nearest_neighbour_pixels", "vocabulary_ceiling"}
    for scores in (summary["greedy"], summary["baselines"]["nearest_neighbour_pixels"]):
        assert 0.0 <= scores["bleu"] <= 100.0 and 0.0 <= scores["word_f1"] <= 1.0
    assert summary["test_images"] == 24
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "examples.png", "attention.png",
                 "examples.md", "test_captions.json", "model.safetensors"):
        assert (tmp_path / name).stat().st_size > 0, name
    captions = json.loads((tmp_path / "test_captions.json").read_text())
    assert len(captions) == 24 and {"name", "greedy", "beam2", "nearest"} <= set(captions[0])
    epochs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["kind"] == "epoch"] == [1, 2]
    # resumed: the trained weights are read back, so decoding gives the same captions
    again = captioning.run(config, tmp_path, resume=True)
    assert again["bleu_greedy"] == summary["bleu_greedy"] and again["greedy"] == summary["greedy"]


def test_split_keeps_test_emoji_unseen():
    """No test image shares its emoji group (skin-tone variants) with a training or validation image."""
    data = captioning.CaptionData(dataclasses.replace(captioning.Config(), train_subset=0, test_subset=0))
    groups = {k: {data.emoji.groups[i] for i in idx} for k, idx in data.index.items()}
    assert not groups["test"] & (groups["train"] | groups["val"]) and not groups["train"] & groups["val"]
    assert sum(len(v) for v in data.index.values()) == len(data.emoji)
    assert data.images["train"].shape[1:] == (3, 32, 32)
