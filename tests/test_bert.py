"""BERT against Hugging Face's own BertModel / BertForSequenceClassification (the reference the
state_dict keys follow): same weights through state_dict give the same hidden states, pooled
output, logits, loss and gradients, with padding masks and token types; config.json parsing;
from_pretrained / save_pretrained with key prefixes, missing and unexpected keys reported."""
import json
import warnings

import numpy as np
import pytest
import torch

import macrograd as mg
from macrograd.io import from_pretrained, save_pretrained
from macrograd.models.bert import BertConfig, BertForSequenceClassification, BertModel, mean_pooling

import transformers as hf

SMALL = dict(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64, max_position_embeddings=40, type_vocab_size=2,
             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def to_torch_state(model):
    return {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}


def batch(seed=0, n=3, length=12):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 50, (n, length))
    mask = np.ones((n, length), dtype=np.int64)
    mask[1, 7:] = 0  # padded rows
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    types = np.zeros((n, length), dtype=np.int64)
    types[:, 5:] = 1
    return ids, mask, types


def close(ours, theirs, rtol=1e-4, atol=1e-5, name=""):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol, err_msg=name)


def test_state_dict_keys_are_hugging_faces():
    mg.manual_seed(0)
    ours = BertModel(BertConfig(**SMALL))
    theirs = hf.BertModel(hf.BertConfig(**SMALL))
    assert list(ours.state_dict()) == [k for k in theirs.state_dict() if k != "embeddings.position_ids"]
    for k, v in theirs.state_dict().items():
        if k in ours.state_dict():
            assert tuple(ours.state_dict()[k].shape) == tuple(v.shape), k


def test_hidden_states_pooler_and_grads_match_hugging_face():
    mg.manual_seed(0)
    ours = BertModel(BertConfig(**SMALL))
    theirs = hf.BertModel(hf.BertConfig(**SMALL))
    theirs.load_state_dict(to_torch_state(ours), strict=False)
    theirs.train(), ours.train()  # dropout 0: train mode must compute the same thing
    ids, mask, types = batch()
    out = ours(mg.tensor(ids), mg.tensor(mask), mg.tensor(types))
    ref = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types))
    real = mask.astype(bool)  # padded positions' vectors are not meaningful in either library
    close(out.last_hidden_state[real], ref.last_hidden_state[torch.tensor(real)])
    close(out.pooler_output, ref.pooler_output)
    assert out[0] is out.last_hidden_state  # a tuple, like Hugging Face's outputs
    weights = np.random.default_rng(1).normal(size=(3, 12, 32)).astype(np.float32) * real[..., None]
    (out.last_hidden_state * mg.tensor(weights)).sum().add(out.pooler_output.sum()).backward()
    (ref.last_hidden_state * torch.tensor(weights)).sum().add(ref.pooler_output.sum()).backward()
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad, rtol=1e-3, atol=1e-5, name=name)


def test_no_mask_and_default_token_types():
    mg.manual_seed(1)
    ours = BertModel(BertConfig(**SMALL)).eval()
    theirs = hf.BertModel(hf.BertConfig(**SMALL)).eval()
    theirs.load_state_dict(to_torch_state(ours), strict=False)
    ids = np.random.default_rng(2).integers(0, 50, (2, 9))
    with mg.no_grad(), torch.no_grad():
        close(ours(mg.tensor(ids)).last_hidden_state, theirs(torch.tensor(ids)).last_hidden_state)


def test_padding_does_not_change_a_sentence():
    mg.manual_seed(2)
    model = BertModel(BertConfig(**SMALL)).eval()
    ids = mg.tensor([[5, 6, 7, 0, 0, 0]])
    mask = mg.tensor([[1, 1, 1, 0, 0, 0]])
    with mg.no_grad():
        padded = model.sentence_embedding(ids, mask)
        alone = model.sentence_embedding(ids[:, :3], mask[:, :3])
    np.testing.assert_allclose(padded.numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(padded.numpy(), axis=1), 1.0, rtol=1e-6)


def test_mean_pooling_is_the_masked_mean_then_unit_length():
    hidden = mg.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    mask = mg.tensor([[1, 1, 0], [1, 0, 0]])
    raw = mean_pooling(hidden, mask, normalize=False).numpy()
    np.testing.assert_allclose(raw, [hidden.numpy()[0, :2].mean(0), hidden.numpy()[1, 0]])
    unit = mean_pooling(hidden, mask).numpy()
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("num_labels", [3, 1])
def test_sequence_classification_matches_hugging_face(num_labels):
    mg.manual_seed(3)
    ours = BertForSequenceClassification(BertConfig(**SMALL, num_labels=num_labels))
    theirs = hf.BertForSequenceClassification(hf.BertConfig(**SMALL, num_labels=num_labels))
    theirs.load_state_dict(to_torch_state(ours), strict=False)
    ids, mask, types = batch(4)
    labels = np.array([0, 2, 1]) if num_labels > 1 else np.array([0.5, -1.0, 2.0], dtype=np.float32)
    out = ours(mg.tensor(ids), mg.tensor(mask), mg.tensor(types), labels=mg.tensor(labels))
    ref = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                 token_type_ids=torch.tensor(types), labels=torch.tensor(labels))
    close(out.logits, ref.logits)
    close(out.loss, ref.loss)
    out.loss.backward()
    ref.loss.backward()
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad, rtol=1e-3, atol=1e-6, name=name)
    assert ours(mg.tensor(ids)).loss is None


def test_fine_tuning_learns_a_toy_task():
    mg.manual_seed(4)
    model = BertForSequenceClassification(BertConfig(**SMALL, num_labels=2))
    rng = np.random.default_rng(5)
    ids = rng.integers(3, 50, (16, 8))
    labels = rng.integers(0, 2, 16)
    ids[:, 1] = labels + 1  # the label is written in token 1
    optimizer = mg.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):
        optimizer.zero_grad()
        loss = model(mg.tensor(ids), labels=mg.tensor(labels)).loss
        loss.backward()
        optimizer.step()
    model.eval()
    with mg.no_grad():
        assert (model(mg.tensor(ids)).logits.numpy().argmax(1) == labels).all()


def test_config_from_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**SMALL, "model_type": "bert", "hidden_act": "gelu", "foo": 1,
                                "id2label": {"0": "neg", "1": "neu", "2": "pos"}}))
    config = BertConfig.from_json_file(path)
    assert config.hidden_size == 32 and config.num_labels == 3 and config.layer_norm_eps == 1e-12
    assert BertConfig.from_pretrained(tmp_path) == config
    with pytest.raises(ValueError, match="unknown hidden_act 'swishy'"):
        BertModel(BertConfig(**{**SMALL, "hidden_act": "swishy"}))
    with pytest.raises(NotImplementedError, match="position_embedding_type='relative_key'"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})


def test_errors_name_the_problem():
    model = BertModel(BertConfig(**SMALL))
    with pytest.raises(ValueError, match="longer than max_position_embeddings=40"):
        model(mg.zeros(1, 41, dtype=mg.int64))
    with pytest.raises(ValueError, match=r"attention_mask of shape \(1, 3\) does not match input_ids of shape \(1, 4\)"):
        model(mg.zeros(1, 4, dtype=mg.int64), mg.ones(1, 3, dtype=mg.int64))
    with pytest.raises(ValueError, match="expected input_ids of integers"):
        model(mg.zeros(1, 4))


# ---- from_pretrained / save_pretrained ---------------------------------------------------------
def hf_folder(tmp_path, model):
    model.save_pretrained(tmp_path)  # Hugging Face's own files: config.json + model.safetensors
    return tmp_path


def test_from_pretrained_reads_a_hugging_face_folder(tmp_path):
    torch.manual_seed(0)
    theirs = hf.BertModel(hf.BertConfig(**SMALL)).eval()
    ours, info = from_pretrained(hf_folder(tmp_path, theirs), output_loading_info=True)
    assert isinstance(ours, BertModel) and not ours.training
    assert info == {"missing_keys": [], "unexpected_keys": []}
    ids, mask, types = batch(6)
    with mg.no_grad(), torch.no_grad():
        close(ours(mg.tensor(ids), mg.tensor(mask)).pooler_output,
              theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).pooler_output)


def test_prefixes_are_fitted_and_leftovers_reported(tmp_path):
    torch.manual_seed(1)
    classifier = hf.BertForSequenceClassification(hf.BertConfig(**SMALL, num_labels=3)).eval()
    folder = hf_folder(tmp_path / "clf", classifier)
    # the task checkpoint ('bert.' keys) into the bare encoder: the prefix goes, the head is unused
    with pytest.warns(UserWarning, match=r"not used by BertModel: \['classifier.bias', 'classifier.weight'\]"):
        encoder = BertModel.from_pretrained(folder)
    close(encoder.pooler.dense.weight, classifier.bert.pooler.dense.weight)
    # ... and into the task model itself: every key fits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = BertForSequenceClassification.from_pretrained(folder)
    assert ours.num_labels == 3
    ids, mask, _ = batch(7)
    with mg.no_grad(), torch.no_grad():
        close(ours(mg.tensor(ids), mg.tensor(mask)).logits,
              classifier(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits)
    # a bare encoder's checkpoint into the task model: 'bert.' is added, the new head is reported
    encoder_folder = hf_folder(tmp_path / "enc", classifier.bert)
    with pytest.warns(UserWarning, match=r"keep their fresh initialization: \['classifier.weight', 'classifier.bias'\]"):
        ours, info = BertForSequenceClassification.from_pretrained(encoder_folder, num_labels=4,
                                                                   output_loading_info=True)
    assert info["missing_keys"] == ["classifier.weight", "classifier.bias"] and ours.num_labels == 4
    close(ours.bert.embeddings.word_embeddings.weight, classifier.bert.embeddings.word_embeddings.weight)
    with pytest.raises(RuntimeError, match=r"not used by BertModel"):
        BertModel.from_pretrained(folder, strict=True)


def test_save_pretrained_round_trip(tmp_path):
    mg.manual_seed(5)
    model = BertForSequenceClassification(BertConfig(**SMALL, num_labels=3))
    save_pretrained(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["BertForSequenceClassification"]
    loaded = from_pretrained(tmp_path)  # the architecture picks the class
    assert isinstance(loaded, BertForSequenceClassification)
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    # Hugging Face reads our folder too
    theirs = hf.BertForSequenceClassification.from_pretrained(tmp_path).eval()
    ids, mask, _ = batch(8)
    loaded.eval()
    with mg.no_grad(), torch.no_grad():
        close(loaded(mg.tensor(ids), mg.tensor(mask)).logits,
              theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits)


def test_from_pretrained_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no folder"):
        from_pretrained(str(tmp_path / "missing" / "model"))
    with pytest.raises(FileNotFoundError, match="no config.json in"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"no model.safetensors .*pytorch_model.bin.*not read"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    mg.save({"x": mg.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="model_type='t5'"):
        from_pretrained(tmp_path)
    # a hub name with the hub offline: a clear error saying where it looked
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match=r"'no-such-user/no-such-model' is not a local folder .*offline mode"):
        from_pretrained("no-such-user/no-such-model")
    with pytest.raises(OSError, match="hub"):
        BertModel.from_pretrained("no-such-model", local_files_only=True)
