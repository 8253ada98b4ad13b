"""BERT: a bidirectional Transformer encoder (Devlin et al. 2018), with the module names of
Hugging Face's `BertModel`, so that its checkpoints (e.g. all-MiniLM-L6-v2) load key for key.

    x   = LayerNorm(word[ids] + position[0..T-1] + token_type[types])
    x   = LayerNorm(x + attention(x));  x = LayerNorm(x + W_2 gelu(W_1 x))   (post-LN, n times)
    pooler_output = tanh(W_p x[:, 0])                           (the [CLS] vector)

Sentence embeddings (sentence-transformers' recipe for all-MiniLM-L6-v2): the mean of the token
vectors over the real tokens (attention_mask = 1), scaled to unit length.

    model = BertModel.from_pretrained("shared/models/all-MiniLM-L6-v2")
    batch = tokenizer.batch_encode(sentences)
    emb = model.sentence_embedding(batch["input_ids"], batch["attention_mask"])   # (N, 384)
"""
from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .. import creation, nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops.dtypes import to_tensor

BertOutput = namedtuple("BertOutput", ["last_hidden_state", "pooler_output"])
SequenceClassifierOutput = namedtuple("SequenceClassifierOutput", ["loss", "logits"])


@dataclass
class BertConfig:
    """The fields of a Hugging Face BERT config.json that shape the model (others are ignored)."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    num_labels: int = 2
    classifier_dropout: float | None = None

    @classmethod
    def from_dict(cls, config):
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        if "num_labels" not in config and isinstance(config.get("id2label"), dict):
            values["num_labels"] = len(config["id2label"])
        result = cls(**values)
        if result.position_embedding_type != "absolute":
            raise NotImplementedError(f"BertConfig: position_embedding_type={result.position_embedding_type!r} "
                                      "is not supported (only 'absolute')")
        return result

    @classmethod
    def from_json_file(cls, path):
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_pretrained(cls, folder):
        return cls.from_json_file(Path(folder) / "config.json")


# Hugging Face's names for the activations: "gelu" is the exact erf form, "gelu_new" the tanh one.
_ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_new": lambda: nn.GELU(approximate="tanh"),
                "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"), "relu": lambda: nn.ReLU(),
                "silu": lambda: nn.SiLU(), "swish": lambda: nn.SiLU(), "tanh": lambda: nn.Tanh()}


def _activation(name):
    if name not in _ACTIVATIONS:
        raise ValueError(f"BertConfig: unknown hidden_act {name!r}; supported: {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.max_positions = config.max_position_embeddings

    def forward(self, input_ids, token_type_ids):
        length = input_ids.shape[1]
        if length > self.max_positions:
            raise ValueError(f"BertModel: a sequence of {length} tokens is longer than "
                             f"max_position_embeddings={self.max_positions} (truncate it)")
        positions = creation.arange(length, dtype=np.int64)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + mask) V per head, Q, K, V from three Linears."""

    def __init__(self, config):
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"BertSelfAttention: hidden_size={config.hidden_size} is not divisible "
                             f"by num_attention_heads={config.num_attention_heads}")
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.num_heads = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob

    def forward(self, x, mask):
        B, T, C = x.shape
        heads = lambda t: t.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)  # noqa: E731
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout_p if self.training else 0.0)
        return y.transpose(1, 2).reshape(B, T, C)


class BertSelfOutput(nn.Module):
    """LayerNorm(x + dropout(dense(h))): the post-LN residual around attention."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dropout(self.dense(h)))


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = _activation(config.hidden_act)

    def forward(self, x):
        return self.intermediate_act_fn(self.dense(x))


class BertOutputLayer(nn.Module):
    """LayerNorm(x + dropout(dense(h))): the post-LN residual around the feed-forward block
    (Hugging Face calls this class BertOutput; the name here is free for the model's output)."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h, x):
        return self.LayerNorm(x + self.dropout(self.dense(h)))


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutputLayer(config)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    """tanh(dense(x[:, 0])): the first ([CLS]) token's vector, for sentence-level heads."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, x):
        return self.activation(self.dense(x[:, 0]))


def _init_bert_weights(module, std):
    """BERT's init: normal(0, initializer_range) weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if module.padding_idx is not None:
            _zero_row(module.weight, module.padding_idx)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _zero_row(weight, row):
    with no_grad():
        weight[row] = 0.0


def _ids(x, who, name):
    x = to_tensor(x)
    if x.ndim != 2 or x.dtype.kind not in "iub":
        raise ValueError(f"{who}: expected {name} of integers with shape (batch, length), got "
                         f"{x.dtype} of shape {tuple(x.shape)}")
    return x


class BertModel(nn.Module):
    """The encoder: forward(input_ids, attention_mask=None, token_type_ids=None) ->
    BertOutput(last_hidden_state (B, T, H), pooler_output (B, H))."""

    base_model_prefix = "bert"  # the name of the encoder inside task models (checkpoint key prefix)

    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.apply(lambda m: _init_bert_weights(m, config.initializer_range))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        who = "BertModel"
        input_ids = _ids(input_ids, who, "input_ids")
        mask = None
        if attention_mask is not None:
            attention_mask = _ids(attention_mask, who, "attention_mask")
            if tuple(attention_mask.shape) != tuple(input_ids.shape):
                raise ValueError(f"{who}: attention_mask of shape {tuple(attention_mask.shape)} does not "
                                 f"match input_ids of shape {tuple(input_ids.shape)}")
            # (B, 1, 1, T) bool, True = this key takes part: padding is never attended to
            mask = (attention_mask != 0).reshape(attention_mask.shape[0], 1, 1, attention_mask.shape[1])
        if token_type_ids is None:
            token_type_ids = creation.zeros(tuple(input_ids.shape), dtype=np.int64)
        else:
            token_type_ids = _ids(token_type_ids, who, "token_type_ids")
        x = self.encoder(self.embeddings(input_ids, token_type_ids), mask)
        return BertOutput(x, None if self.pooler is None else self.pooler(x))

    def sentence_embedding(self, input_ids, attention_mask=None, token_type_ids=None, normalize=True):
        """Mean of the token vectors over the real tokens, L2-normalised (sentence-transformers)."""
        hidden = self(input_ids, attention_mask, token_type_ids).last_hidden_state
        return mean_pooling(hidden, attention_mask, normalize)

    @classmethod
    def from_pretrained(cls, name_or_path, **kwargs):
        """A BertModel from a Hugging Face folder (config.json + model.safetensors) or hub name;
        see macrograd.io.pretrained.from_pretrained."""
        from ..io.pretrained import from_pretrained

        return from_pretrained(name_or_path, model_class=cls, **kwargs)


def mean_pooling(hidden, attention_mask=None, normalize=True):
    """sum_t m_t h_t / max(sum_t m_t, 1e-9), then h / ||h|| if normalize: hidden (B, T, H)."""
    if attention_mask is None:
        pooled = hidden.mean(dim=1)
    else:
        m = to_tensor(attention_mask).to(hidden.dtype).unsqueeze(-1)
        pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1) if normalize else pooled


class BertForSequenceClassification(nn.Module):
    """BERT + dropout + a Linear on the pooled [CLS] vector, for fine-tuning on labelled texts.
    forward(..., labels=None) -> SequenceClassifierOutput(loss, logits); loss is the
    cross-entropy against labels (mean squared error when num_labels == 1), None without labels."""

    base_model_prefix = "bert"

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        _init_bert_weights(self.classifier, config.initializer_range)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        pooled = self.bert(input_ids, attention_mask, token_type_ids).pooler_output
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            labels = to_tensor(labels)
            if self.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss, logits)

    @classmethod
    def from_pretrained(cls, name_or_path, **kwargs):
        """The encoder's weights from a checkpoint (with or without the 'bert.' prefix); a
        classifier missing from it is freshly initialised (and reported as missing)."""
        from ..io.pretrained import from_pretrained

        return from_pretrained(name_or_path, model_class=cls, **kwargs)
