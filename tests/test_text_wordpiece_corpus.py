"""WordPiece == Hugging Face's `BertTokenizer`, id for id, on more than 2,000 varied sentences.

The reference is transformers' BertTokenizer built from the same all-MiniLM-L6-v2 vocab.txt. The
sentences: Shakespeare lines, both sides of the English-German pairs (umlauts, ß, typographic
quotes), reviews in English, French, German and Dutch (accents, HTML entities, a BOM), and
generated sentences that mix numbers, punctuation, CJK, kana, Hangul, Cyrillic, Greek (capital
sigmas), Arabic, Devanagari, emoji, control and odd whitespace characters, and made-up words
(long ones, ones over 100 characters and ones with a character the vocabulary lacks, to hit [UNK]).
"""
import csv
import gzip
import inspect
import os
import random
from pathlib import Path

import pytest
from transformers import BertTokenizer

from macrograd.text import WordPieceTokenizer

DATA = Path(os.environ.get("MACROGRAD_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
VOCAB = DATA.parent / "models" / "all-MiniLM-L6-v2" / "vocab.txt"

NUMBERS = ["0", "42", "1,000,000", "3.14159", "-7", "1e-5", "2024-06-01", "12:30", "$9.99", "€5", "50%",
           "½", "²", "①", "٣", "१२", "#1", "No.7", "0x1F", "1st", "22nd"]
PUNCTUATION = [",", ".", "!", "?", "...", "—", "–", "-", "'", "\"", "(", ")", "[", "]", "{", "}", "«", "»", "„",
               "“", "”", "‘", "’", "¿", "¡", ";", ":", "/", "\\", "@", "&", "*", "^", "`", "~", "|", "<", ">",
               "§", "¶", "•", "…", "、", "。", "《", "》"]
SCRIPTS = {
    "cjk": ["東京", "中文", "字符", "日本語", "漢字", "𠀀", "我爱你", "北京大学"],
    "kana": ["ひらがな", "カタカナ", "テキスト", "ありがとう"],
    "hangul": ["한국어", "안녕하세요", "텍스트"],
    "cyrillic": ["Привет", "мир", "Москва", "ёжик", "Україна", "щи", "ЪЫЬ"],
    "greek": ["Αθήνα", "λόγος", "ΣΑΣ", "Σοφία", "ψυχή", "ΟΔΟΣ", "ς"],
    "arabic": ["مرحبا", "العالم", "كتاب", "سلام"],
    "devanagari": ["नमस्ते", "हिन्दी", "भारत"],
    "latin": ["naïve", "café", "Ærøskøbing", "Straße", "señor", "Ångström", "İstanbul", "façade", "Øre",
              "ǅemal", "ﬁnal", "Œuvre", "Dvořák", "Łódź", "Mötley", "crème brûlée", "Zoë"],
    "emoji": ["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🎉", "☃", "🤖"],
}
ODD_CHARACTERS = ["\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "\ufeff", "\x00", "\x07", "\u00ad",
                  "\u2028", "\ufffd", "\u0301"]
ENGLISH = ("the of and to a in is it you that he was for on are with as his they be at one have this from "
           "or had by word but what some we can out other were all there when up use your how said an each "
           "she which do their time if will way about many then them write would like so these her long "
           "tokenizer embedding gradient").split()


def made_up_word(rng):
    """A word no vocabulary holds whole: long random letters (cut into pieces), a word over 100
    characters, or one with a character that has no piece at all (the whole word becomes [UNK])."""
    kind = rng.randrange(4)
    letters = "abcdefghijklmnopqrstuvwxyzäöüéñ"
    if kind == 0:
        return "".join(rng.choice(letters) for _ in range(rng.randint(12, 40)))
    if kind == 1:
        return "".join(rng.choice(letters) for _ in range(rng.randint(99, 110)))
    if kind == 2:
        word = [rng.choice(letters) for _ in range(rng.randint(4, 12))]
        word.insert(rng.randrange(len(word)), rng.choice("☃ⱥꙮᚠ"))
        return "".join(word)
    return rng.choice(["Supercalifragilisticexpialidocious", "Donaudampfschifffahrtsgesellschaftskapitän",
                       "antidisestablishmentarianism", "Rindfleischetikettierungsüberwachungsaufgaben",
                       "xylophonification", "quizzaciously", "flibbertigibbet", "HTTPServerError404"])


def generated_sentence(rng):
    """8-20 pieces drawn from English words, numbers, punctuation, the scripts, odd characters and
    made-up words, joined by spaces or glued together (so punctuation and scripts touch letters)."""
    parts = []
    for _ in range(rng.randint(8, 20)):
        pick = rng.random()
        if pick < 0.3:
            part = rng.choice(ENGLISH)
            part = part.upper() if rng.random() < 0.1 else part.capitalize() if rng.random() < 0.2 else part
        elif pick < 0.45:
            part = rng.choice(NUMBERS)
        elif pick < 0.6:
            part = rng.choice(PUNCTUATION)
        elif pick < 0.85:
            part = rng.choice(SCRIPTS[rng.choice(list(SCRIPTS))])
        elif pick < 0.93:
            part = made_up_word(rng)
        else:
            part = rng.choice(ODD_CHARACTERS)
        parts.append(part)
    return "".join(p + ("" if rng.random() < 0.2 else " ") for p in parts).strip(" ")


def review_texts(name):
    with open(DATA / "sentiment" / name, encoding="utf-8", newline="") as f:
        return [max(row, key=len) for row in csv.reader(f)]  # (label, text) or (text, label) columns


@pytest.fixture(scope="module")
def sentences():
    rng = random.Random(2024)
    with gzip.open(DATA / "shakespeare" / "shakespeare.txt.gz", "rt", encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    with gzip.open(DATA / "de-en" / "eng-deu.tsv.gz", "rt", encoding="utf-8") as f:
        pairs = [line.split("\t") for line in f.read().splitlines()]
    german = [de for _, de in pairs if any(c in de for c in "äöüÄÖÜß")]
    groups = {
        "shakespeare": rng.sample(lines, 500),
        "english side": rng.sample([en for en, _ in pairs], 250),
        "german side": rng.sample([de for _, de in pairs], 150) + rng.sample(german, 150),
        "reviews": [text for name in ("polarity-en-pang-lee2.csv", "polarity-fr-amazon.csv",
                                      "polarity-de-amazon.csv", "polarity-nl-bol.com.csv")
                    for text in rng.sample(review_texts(name), 100)],
        "generated": [generated_sentence(rng) for _ in range(600)],
    }
    return groups


@pytest.fixture(scope="module")
def reference():
    """transformers' BertTokenizer on vocab.txt. transformers 5 takes the file as `vocab=` and
    silently ignores `vocab_file=` (it would build a 5-token vocabulary); 4.x takes `vocab_file=`."""
    if "vocab" in inspect.signature(BertTokenizer.__init__).parameters:
        ref = BertTokenizer(vocab=str(VOCAB), do_lower_case=True)
    else:
        ref = BertTokenizer(vocab_file=str(VOCAB), do_lower_case=True)
    assert len(ref) == 30522  # the real vocabulary was read
    return ref


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer.from_pretrained(VOCAB.parent)


def test_at_least_2000_varied_sentences(sentences):
    everything = [s for group in sentences.values() for s in group]
    assert len(everything) >= 2000 and len(set(everything)) > 1950
    text = "".join(everything)
    for needle in ("ä", "ö", "ü", "ß", "é", "ç", "東", "ж", "Σ", "ا", "😀", "0", "\ufeff"):
        assert needle in text, needle


@pytest.mark.parametrize("group", ["shakespeare", "english side", "german side", "reviews", "generated"])
def test_ids_equal_bert_tokenizer(tok, reference, sentences, group):
    texts = sentences[group]
    expected = reference(texts)["input_ids"]  # [CLS] ... [SEP], no truncation by default
    unknown = 0
    for text, ids in zip(texts, expected):
        assert tok.encode(text) == ids, text
        unknown += ids.count(tok.unk_token_id)
    if group == "generated":
        assert unknown > 100  # the made-up words and rare symbols really reach [UNK]


def test_tokens_equal_bert_tokenizer(tok, reference, sentences):
    for text in sentences["generated"][:200] + sentences["german side"][:100]:
        assert tok.tokenize(text) == reference.tokenize(text), text
