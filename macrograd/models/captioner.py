"""An image captioner: a small residual CNN turns the image into a grid of feature vectors, and a
Transformer decoder writes the caption word by word, attending over that grid (Xu et al., "Show,
Attend and Tell", 2015, with the decoder of Vaswani et al. 2017 in place of their LSTM).

    grid   = CNN(image)                                   (N, d_cnn, g, g), g = image_size / 4
    memory = W_p grid.flatten + P_grid                    (N, g*g, d_model): one "word" per grid cell
    logits = W_o Decoder(E[tokens] sqrt(d) + PE, memory)  (causal self-attention over the words so
                                                           far, cross-attention over the g*g cells)

The CNN is a 3x3 stem then two ResNet BasicBlocks that halve the resolution (32 -> 16 -> 8 for
32-pixel images: a 64-cell grid of 128 channels). P_grid is a learned vector per grid cell, so
that cross-attention knows where each cell is. The output layer shares the token embedding
matrix (tie_weights, Press & Wolf 2017): with a few hundred words and a few thousand captions,
fewer parameters help. Training is teacher forcing, exactly as for the translation Transformer:
read tokens[:, :-1] (starting with BOS), predict tokens[:, 1:].

    model = ImageCaptioner(vocab_size=600, image_size=32, pad_idx=0)
    logits = model(images, tokens[:, :-1])               # (N, T, vocab_size)
    ids = model.greedy_decode(images, bos_idx=2, eos_idx=3, max_len=12)
    cells = model.grid_shape                             # (8, 8): the cross-attention keys, row by row

Two constraints can be put on decoding (greedy and beam): `suppress_tokens` (ids such as <unk>
and <pad>) get probability 0, as in Hugging Face's generate: a caption should not say "<unk>"
even where training targets did; and `block_repeats` forbids the token just generated (a
bigram "x x"), the loop ("south south south ...") an undertrained decoder falls into, and one
that no emoji name contains.
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn.positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from ..ops.dtypes import to_tensor
from ..tensor import Tensor
from .generation import beam_search as _beam_search
from .generation import greedy_search as _greedy_search
from .resnet import BasicBlock


class ImageCaptioner(nn.Module):
    """CNN encoder (a feature grid) + Transformer decoder with cross-attention over the grid.

    widths: channels of the stem and of the two stride-2 residual blocks. The grid is
    image_size // 4 cells on a side. max_len bounds the caption length (BOS and EOS included)."""

    def __init__(self, vocab_size, d_model=128, nhead=4, num_decoder_layers=2, dim_feedforward=256,
                 dropout=0.1, image_size=32, in_channels=3, widths=(32, 64, 128), max_len=32, pad_idx=0,
                 tie_weights=True):
        super().__init__()
        if image_size % 4 or image_size < 4:
            raise ValueError(f"ImageCaptioner: image_size must be a positive multiple of 4 (two stride-2 "
                             f"blocks), got {image_size}")
        if len(widths) != 3:
            raise ValueError(f"ImageCaptioner: widths must give 3 channel counts (stem, block 1, block 2), got {widths}")
        self.d_model, self.pad_idx, self.max_len = d_model, pad_idx, max_len
        self.grid_shape = (image_size // 4, image_size // 4)
        stem, mid, top = widths
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU())
        self.blocks = nn.Sequential(_down_block(stem, mid), _down_block(mid, top))
        self.project = nn.Linear(top, d_model)  # CNN channels -> the decoder's width
        self.grid_position = LearnedPositionalEmbedding(self.grid_shape[0] * self.grid_shape[1], d_model,
                                                        batch_first=True)
        nn.init.normal_(self.grid_position.weight, std=0.02)  # small next to the features at first
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        self.positional = SinusoidalPositionalEncoding(d_model, max_len, dropout, batch_first=True)
        layer = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, num_decoder_layers)
        self.generator = nn.Linear(d_model, vocab_size)
        # embeddings of unit size after the sqrt(d_model) scale, as in Seq2SeqTransformer (fairseq)
        nn.init.normal_(self.embedding.weight, std=d_model ** -0.5)
        with no_grad():
            self.embedding.weight[pad_idx] = 0.0
        if tie_weights:
            self.generator.weight = self.embedding.weight

    def encode(self, images):
        """memory (N, g*g, d_model): the feature grid, cells in row-major order, plus positions."""
        images = to_tensor(images)
        if images.ndim != 4 or images.dtype.kind != "f":
            raise ValueError(f"ImageCaptioner: expected float images of shape (batch, channels, height, width), "
                             f"got {images.dtype} of shape {tuple(images.shape)}")
        grid = self.blocks(self.stem(images))  # (N, C, g, g)
        if tuple(grid.shape[2:]) != self.grid_shape:
            raise ValueError(f"ImageCaptioner: images of {tuple(images.shape[2:])} pixels give a "
                             f"{tuple(grid.shape[2:])} grid, but the model was built for {self.grid_shape}")
        cells = grid.flatten(2).transpose(1, 2)  # (N, g*g, C)
        return self.grid_position(self.project(cells))

    def decode(self, tokens, memory):
        """Decoder states (N, T, d_model) for the token prefixes (N, T), causally masked: position t
        sees tokens 0..t and every grid cell; padding tokens are masked as keys."""
        tokens = to_tensor(tokens)
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            raise ValueError(f"ImageCaptioner: expected token ids of shape (batch, length), "
                             f"got {tokens.dtype} of shape {tuple(tokens.shape)}")
        T = tokens.shape[1]
        causal = Tensor(np.triu(np.ones((T, T), dtype=bool), k=1))  # True = may not attend
        x = self.positional(self.embedding(tokens) * math.sqrt(self.d_model))
        return self.decoder(x, memory, tgt_mask=causal, tgt_key_padding_mask=tokens == self.pad_idx)

    def forward(self, images, tokens):
        """Next-token logits (N, T, vocab_size) for every prefix of tokens (teacher forcing)."""
        return self.generator(self.decode(tokens, self.encode(images)))

    def _next_token_logits(self, tokens, memory, suppress_tokens, block_repeats):
        """Logits (N, vocab) of the token after each prefix (N, t), with suppress_tokens and (if
        block_repeats) each row's last token at -inf."""
        logits = self.generator(self.decode(tokens, memory)[:, -1])
        if suppress_tokens or block_repeats:
            mask = np.zeros(tuple(logits.shape), dtype=np.float32)
            mask[:, list(suppress_tokens)] = -np.inf
            if block_repeats:
                mask[np.arange(len(mask)), to_tensor(tokens).numpy()[:, -1]] = -np.inf
            logits = logits + Tensor(mask)
        return logits

    @no_grad()
    def greedy_decode(self, images, bos_idx, eos_idx, max_len=None, suppress_tokens=(), block_repeats=False):
        """The most likely next word, step by step, for a batch of images (N, C, H, W). Returns
        (N, 1 + generated) int64 starting with BOS; rows that met EOS are padded after it."""
        memory = self.encode(images)
        max_len = max_len or self.max_len - 1

        def step(tokens):
            return self._next_token_logits(tokens, memory, suppress_tokens, block_repeats)

        return _greedy_search(step, memory.shape[0], bos_idx, eos_idx, max_len, self.pad_idx)

    @no_grad()
    def beam_search(self, image, bos_idx, eos_idx, beam_size=4, max_len=None, length_penalty=1.0,
                    suppress_tokens=(), block_repeats=False):
        """Beam search for one image (C, H, W) or (1, C, H, W): a list of (tokens without BOS,
        score), best first; see generation.beam_search."""
        image = to_tensor(image)
        image = image.reshape(1, *image.shape) if image.ndim == 3 else image
        memory = self.encode(image).expand(beam_size, -1, -1)
        max_len = max_len or self.max_len - 1

        def step(tokens, state):
            return self._next_token_logits(tokens, memory, suppress_tokens, block_repeats).log_softmax(dim=-1)

        return _beam_search(step, None, bos_idx, eos_idx, beam_size, max_len, length_penalty)


def _down_block(in_channels, out_channels):
    """A ResNet BasicBlock that halves the resolution, with a 1x1-conv projection shortcut."""
    shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
                             nn.BatchNorm2d(out_channels))
    return BasicBlock(in_channels, out_channels, stride=2, downsample=shortcut)


__all__ = ["ImageCaptioner"]
