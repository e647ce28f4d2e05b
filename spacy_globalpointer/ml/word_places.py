"""Word segmentation for word features: which dictionary word each token's
first character is part of, and its place in that word. Read by
NgramHashEmbed's word features, and by windowed.py, which segments a long
doc once and hands each window its slice."""

from typing import Callable, Dict, List, Sequence

import numpy
from spacy.attrs import IDX, LENGTH

# spacy/strings.pyi leaves out hash_string, a cpdef function of strings.pyx.
from spacy.strings import hash_string  # type: ignore[attr-defined]
from spacy.tokens import Doc

# Where a doc's precomputed word places may wait for word_features (windowed.py
# puts them on the pieces of a long doc it encodes in windows): jieba picks a
# best path through a whole run of Han characters, so a window's own text
# could segment differently from the doc's; with the doc's places handed
# down, word features read no context at all.
WORD_PLACES_KEY = "spacy_globalpointer.word_places"


_jieba = None


def jieba_words(text: str) -> List[str]:
    """jieba's dictionary words of ``text``, in order; they join to ``text``.

    Our own jieba.Tokenizer, built from the dictionary in jieba's package:
    jieba's global one (and any words a user added to it) is not touched,
    nor its shared cache file in the temp folder (jieba trusts that file
    whatever wrote it), and nothing is logged."""
    global _jieba
    if _jieba is None:
        import jieba

        # No lock: two threads building it at once both get the same table;
        # a lock held across a fork would hang the child.
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(tokenizer.get_dict_file())
        tokenizer.initialized = True
        _jieba = tokenizer
    return list(_jieba.cut(text, HMM=False))


SEGMENTERS: Dict[str, Callable[[str], List[str]]] = {"jieba": jieba_words}


def word_places(words: Sequence[str], starts: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """(tokens, 2) uint64: per token (its first character at ``starts``, its
    ``lengths`` characters), the hash of the word holding that character, and
    16 * (1 if the token begins the word, + 2 if it ends it) + min(word length, 15)."""
    word_lens = numpy.fromiter((len(w) for w in words), dtype="int64", count=len(words))
    word_ends = numpy.cumsum(word_lens)
    word_starts = word_ends - word_lens
    hashes = numpy.fromiter((hash_string(w) for w in words), dtype="uint64", count=len(words))
    k = numpy.searchsorted(word_starts, starts, side="right") - 1
    begins = starts == word_starts[k]
    ends = starts + lengths >= word_ends[k]
    place = 16 * (begins.astype("uint64") + 2 * ends.astype("uint64"))
    place += numpy.minimum(word_lens[k], 15).astype("uint64")
    return numpy.stack([hashes[k], place], axis=1)


def doc_word_places(doc: Doc, segmenter: str) -> numpy.ndarray:
    """word_places of every token of ``doc``, segmenting ``doc.text``."""
    where = doc.to_array([IDX, LENGTH]).reshape(len(doc), 2).astype("int64")
    return word_places(SEGMENTERS[segmenter](doc.text), where[:, 0], where[:, 1])
