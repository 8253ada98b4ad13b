"""Pretrained weights: `from_pretrained(name_or_path)` builds a model from a folder holding
config.json and model.safetensors (the layout of the Hugging Face hub), and `save_pretrained`
writes one.

    model = from_pretrained("shared/models/all-MiniLM-L6-v2")        # a BertModel, in eval mode
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=3)
    model = GPT.from_pretrained(folder)                              # nanoGPT keys + GPTConfig

Which model: `model_class` if given, else config.json's model_type ("bert": BertModel, or
BertForSequenceClassification when that is its architecture; "gpt"/"nanogpt": GPT).

Keys: a checkpoint of a task model stores the encoder under a prefix ("bert.embeddings...") and
a bare encoder without it; the prefix is added or removed to fit the model. Buffers that older
checkpoints saved (embeddings.position_ids) and pre-training heads (cls.*) are skipped. Every
other mismatch is reported: missing keys (left at their fresh init) and unused keys, as a
warning, or as an error with strict=True.

A name that is not a folder is looked up on the Hugging Face hub through `huggingface_hub`
(if installed; the files land in its cache). With HF_HUB_OFFLINE=1 or local_files_only=True
only that cache is read.
"""
from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path

from .serialization import load, save

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_HUB_FILES = [CONFIG_NAME, WEIGHTS_NAME, "vocab.txt", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json"]
# Keys that checkpoints carry but that are not weights of these models: HF BERT's position_ids
# buffer, BERT's pre-training heads, GPT-2's causal-mask buffers.
_IGNORED_SUFFIXES = ("embeddings.position_ids", ".attn.bias", ".attn.masked_bias")
_IGNORED_PREFIXES = ("cls.",)
# torch.compile wraps a model and prefixes every key (nanoGPT strips it the same way).
_COMPILED_PREFIX = "_orig_mod."


def _offline():
    return os.environ.get("HF_HUB_OFFLINE", "0").upper() in ("1", "ON", "YES", "TRUE")


def resolve_folder(name_or_path, local_files_only=False, who="from_pretrained"):
    """The local folder of a model: name_or_path itself, or the hub cache's copy of a repo id."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = os.fspath(name_or_path)
    if path.exists():
        raise NotADirectoryError(f"{who}: {name!r} is a file; expected a folder with {CONFIG_NAME} "
                                 f"and {WEIGHTS_NAME}")
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name
    if looks_like_path:
        raise FileNotFoundError(f"{who}: no folder {str(path)!r} (absolute: {str(path.resolve())!r})")
    try:
        import huggingface_hub
    except ImportError:
        raise OSError(f"{who}: {name!r} is not a local folder (looked for {str(path.resolve())!r}), and "
                      "downloading from the Hugging Face hub needs the huggingface_hub package "
                      "(pip install huggingface_hub); or pass the path of a folder holding "
                      f"{CONFIG_NAME} and {WEIGHTS_NAME}") from None
    offline = local_files_only or _offline()
    try:
        folder = huggingface_hub.snapshot_download(name, allow_patterns=_HUB_FILES,
                                                   local_files_only=offline)
    except Exception as error:  # offline cache miss, closed network, unknown repo, ...
        why = ("offline mode (HF_HUB_OFFLINE=1 or local_files_only=True) and it is not in the hub cache"
               if offline else "the download failed; the network may be closed")
        raise OSError(f"{who}: {name!r} is not a local folder (looked for {str(path.resolve())!r}) and "
                      f"could not be fetched from the Hugging Face hub: {why} "
                      f"({type(error).__name__}: {error}). Pass the path of a folder holding "
                      f"{CONFIG_NAME} and {WEIGHTS_NAME}.") from None
    return Path(folder)


def _model_class(config, who):
    from ..models.bert import BertForSequenceClassification, BertModel
    from ..models.gpt import GPT

    model_type = config.get("model_type")
    if model_type == "bert":
        if "BertForSequenceClassification" in config.get("architectures", []):
            return BertForSequenceClassification
        return BertModel
    if model_type in ("gpt", "nanogpt"):
        return GPT
    raise ValueError(f"{who}: cannot tell which model to build from model_type={model_type!r} in "
                     f"{CONFIG_NAME} (supported: 'bert', 'gpt'); pass model_class=")


def _build(model_class, config, overrides):
    from ..models.bert import BertConfig
    from ..models.gpt import GPT, GPTConfig

    config = {**config, **overrides}
    if issubclass(model_class, GPT):
        known = {f.name for f in dataclasses.fields(GPTConfig)}
        return model_class(GPTConfig(**{k: v for k, v in config.items() if k in known}))
    return model_class(BertConfig.from_dict(config))


def _adapt_keys(state, model):
    """Fit the checkpoint's key names to the model's: drop ignorable buffers/heads, strip a
    torch.compile prefix, and add or remove the base model prefix ('bert.')."""
    expected = set(model.state_dict())
    state = {k[len(_COMPILED_PREFIX):] if k.startswith(_COMPILED_PREFIX) else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items()
             if not (k.endswith(_IGNORED_SUFFIXES) or k.startswith(_IGNORED_PREFIXES)) or k in expected}
    prefix = getattr(model, "base_model_prefix", "") + "."
    if prefix == ".":
        return state
    model_has = any(k.startswith(prefix) for k in expected)
    ckpt_has = any(k.startswith(prefix) for k in state)
    if ckpt_has and not model_has:  # a task model's checkpoint into the bare encoder
        return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
    if model_has and not ckpt_has:  # a bare encoder's checkpoint into a task model
        return {prefix + k if prefix + k in expected else k: v for k, v in state.items()}
    return state


def load_pretrained_weights(model, path, strict=False, who="from_pretrained"):
    """Load a safetensors file into model, fitting the key names; returns
    {"missing_keys": [...], "unexpected_keys": [...]} and warns (or raises if strict) about both."""
    state = _adapt_keys(load(path), model)
    result = model.load_state_dict(state, strict=False)
    # a tied weight (GPT's lm_head = wte) is loaded through its other name
    params = model.state_dict(keep_vars=True)
    loaded = {id(params[k]) for k in state if k in params}
    missing = [k for k in result.missing_keys if id(params[k]) not in loaded]
    unexpected = list(result.unexpected_keys)
    name = type(model).__name__
    lines = []
    if missing:
        lines.append(f"Some weights of {name} were not in the checkpoint at {str(path)!r} and keep their "
                     f"fresh initialization: {missing}")
    if unexpected:
        lines.append(f"Some weights of the checkpoint at {str(path)!r} were not used by {name}: {unexpected}")
    if lines and strict:
        raise RuntimeError(f"{who}: " + "\n".join(lines))
    for line in lines:
        warnings.warn(f"{who}: {line}", stacklevel=3)
    return {"missing_keys": missing, "unexpected_keys": unexpected}


def from_pretrained(name_or_path, model_class=None, strict=False, local_files_only=False,
                    output_loading_info=False, **config_overrides):
    """Build a model from a folder (or hub repo id) with config.json and model.safetensors.

    model_class: the class to build (BertModel, BertForSequenceClassification, GPT); by default
    from config.json's model_type. config_overrides replace config entries (num_labels=3,
    hidden_dropout_prob=0.0, ...). Returns the model in eval mode, or (model, info) with
    output_loading_info=True, info holding the missing and unexpected keys."""
    who = f"{model_class.__name__}.from_pretrained" if model_class is not None else "from_pretrained"
    folder = resolve_folder(name_or_path, local_files_only, who)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.is_file():
        raise FileNotFoundError(f"{who}: no {CONFIG_NAME} in {str(folder)!r}")
    if not weights_path.is_file():
        other = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
        hint = (f" (found {other}: pickled torch files are not read; convert them with "
                "safetensors.torch.save_file)") if other else ""
        raise FileNotFoundError(f"{who}: no {WEIGHTS_NAME} in {str(folder)!r}{hint}")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    model_class = model_class or _model_class(config, who)
    model = _build(model_class, config, config_overrides)
    info = load_pretrained_weights(model, weights_path, strict, who)
    model.eval()  # as Hugging Face does: dropout off until model.train()
    return (model, info) if output_loading_info else model


def save_pretrained(model, folder):
    """Write config.json (the model's config, with its model_type) and model.safetensors
    (a tied weight once, under its first name) so that from_pretrained(folder) rebuilds it."""
    from ..models.bert import BertForSequenceClassification, BertModel
    from ..models.gpt import GPT

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dataclasses.asdict(model.config)
    if isinstance(model, GPT):
        config.update(model_type="gpt", architectures=["GPT"])
    elif isinstance(model, (BertModel, BertForSequenceClassification)):
        config.update(model_type="bert", architectures=[type(model).__name__])
    else:
        raise TypeError(f"save_pretrained: expected a BertModel, BertForSequenceClassification or GPT, "
                        f"got {type(model).__name__}")
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state, seen = {}, set()
    for key, value in model.state_dict(keep_vars=True).items():
        if id(value) not in seen:
            seen.add(id(value))
            state[key] = value.detach()
    save(state, folder / WEIGHTS_NAME)
