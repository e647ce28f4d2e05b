"""Character tokenization for Chinese, in linear time.

spaCy's ``spacy.zh.ChineseTokenizer`` with ``segmenter = "char"`` rebuilds the
spacing with ``spacy.util.get_words_and_spaces``, which copies the rest of the
text for every character: quadratic in the text's length (see
docs/performance.md). This tokenizer makes the same tokens
(every non-space character; a run of whitespace is one token, except a
single " " after a character, which is that character's trailing space) in
one pass.
"""

import re
from typing import Callable

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import DummyTokenizer, registry
from spacy.vocab import Vocab

# \\s is str.isspace for every code point: the same whitespace as spaCy's.
_TOKEN = re.compile(r"(\S)( ?)|(\s+)")


class ChineseCharTokenizer(DummyTokenizer):
    """One token per character, as spacy.zh.ChineseTokenizer(segmenter="char")."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words, spaces = [], []
        for char, space, gap in _TOKEN.findall(text):
            words.append(char or gap)
            spaces.append(bool(space))
        return Doc(self.vocab, words=words, spaces=spaces)


@registry.tokenizers("spacy_globalpointer.ChineseCharTokenizer.v1")
def create_chinese_char_tokenizer() -> Callable[[Language], ChineseCharTokenizer]:
    """``[nlp.tokenizer]`` for Chinese character tokens: the tokens of
    spacy.zh.ChineseTokenizer with segmenter "char", in linear time."""

    def make(nlp: Language) -> ChineseCharTokenizer:
        return ChineseCharTokenizer(nlp.vocab)

    return make
