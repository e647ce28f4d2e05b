"""A corpus reader for DocBins whose docs carry doc.spans."""

from pathlib import Path
from typing import Callable, Iterator, Optional

from spacy.language import Language
from spacy.training import Example
from spacy.util import registry

from spacy_globalpointer.training.msgpack_cache import cached


@registry.readers("spacy_globalpointer.Corpus.v1")
def create_corpus_reader(
    path: Optional[Path],
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    augmenter: Optional[Callable] = None,
) -> Callable:
    """spacy.Corpus.v1 (same settings), for DocBins whose docs carry doc.spans.

    A DocBin stores each doc's span groups as separate msgpack blobs, and
    srsly asks catalogue for its msgpack extensions on each one (a scan of
    the whole registry): most of the load time. This reader caches that
    answer while it reads, and only then. Use it for [corpora.train] and [corpora.dev]."""
    from spacy.training.corpus import create_docbin_reader

    corpus = create_docbin_reader(path, gold_preproc, max_length, limit, augmenter)

    def read(nlp: Language) -> Iterator[Example]:
        return cached(iter(corpus(nlp)))

    return read
