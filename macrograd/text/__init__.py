"""Tokenizers in pure Python + NumPy: characters, words, byte-level BPE (GPT-2) and WordPiece (BERT).

    from macrograd.text import CharTokenizer, WordTokenizer, ByteBPETokenizer, WordPieceTokenizer
"""
from .bpe import GPT2_SPLIT_PATTERN, ByteBPETokenizer, bytes_to_unicode
from .char import CharTokenizer
from .vocab import DEFAULT_SPECIALS, Vocabulary
from .word import WordTokenizer, pre_tokenize
from .wordpiece import BasicTokenizer, WordPieceTokenizer, load_vocab

__all__ = [
    "BasicTokenizer", "ByteBPETokenizer", "CharTokenizer", "DEFAULT_SPECIALS", "GPT2_SPLIT_PATTERN",
    "Vocabulary", "WordPieceTokenizer", "WordTokenizer", "bytes_to_unicode", "load_vocab", "pre_tokenize",
]
