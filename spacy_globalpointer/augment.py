"""Mention replacement: a training-data augmenter for span NER.

Most entities a model misses on new text are ones it never saw in training:
it has memorised the mentions, not the contexts they sit in. Replacing a
mention by another mention of the same label (a company name by another
company name) keeps the context and changes the mention, so the context has
to carry the decision. For any NER corpus; nothing here is CLUENER's.
"""

import random
from typing import Callable, Dict, Iterator, List

from spacy.language import Language
from spacy.training import Example
from spacy.util import filter_spans, registry


@registry.augmenters("spacy_globalpointer.mention_swap.v1")
def create_mention_swap_augmenter(
    level: float = 0.3, spans_key: str = "sc", max_mentions: int = 5000, seed: int = 0
) -> Callable[[Language, Example], Iterator[Example]]:
    """An augmenter for ``[corpora.train.augmenter]``.

    level (float): share of the examples that are replaced by a copy whose
        entities are swapped (the rest pass unchanged).
    spans_key (str): the gold span group (doc.ents is used when a doc has none).
    max_mentions (int): mentions remembered per label (the first seen).
    seed (int): the augmenter's own random seed.

    Mentions are collected from the examples as they pass, so the first
    epoch swaps among the mentions seen so far. Examples with nested or
    overlapping gold spans pass unchanged.
    """
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"mention_swap: level must be between 0 and 1, got {level}.")
    rng = random.Random(seed)
    pool: Dict[str, List[str]] = {}
    seen: Dict[str, set] = {}

    def augment(nlp: Language, example: Example) -> Iterator[Example]:
        ref = example.reference
        spans = list(ref.spans[spans_key]) if spans_key in ref.spans else list(ref.ents)
        for span in spans:
            known = seen.setdefault(span.label_, set())
            if len(known) < max_mentions and span.text not in known:
                known.add(span.text)
                pool.setdefault(span.label_, []).append(span.text)
        if not spans or rng.random() >= level:
            yield example
            return
        spans.sort(key=lambda span: span.start)
        if any(a.end > b.start for a, b in zip(spans, spans[1:])):
            yield example  # nested or overlapping gold stays exact: only flat examples are swapped
            return
        text, pieces, cursor, new_spans = ref.text, [], 0, []
        for span in spans:
            mention = rng.choice(pool[span.label_])
            pieces.append(text[cursor : span.start_char])
            start = sum(map(len, pieces))
            pieces.append(mention)
            new_spans.append((start, start + len(mention), span.label_))
            cursor = span.end_char
        pieces.append(text[cursor:])
        doc = nlp.make_doc("".join(pieces))
        gold = [doc.char_span(s, e, label=label) for s, e, label in new_spans]
        if any(span is None for span in gold):
            yield example  # a mention that does not fall on token boundaries here
            return
        doc.spans[spans_key] = gold
        doc.set_ents(filter_spans(gold), default="outside")
        yield Example(nlp.make_doc(doc.text), doc)

    return augment
