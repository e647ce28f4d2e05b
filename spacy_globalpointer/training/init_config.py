"""A complete, trainable config for a globalpointer_ner pipeline, from one
template (templates/init_config.cfg.jinja) with language and hardware as
branches, and what the training data says: its labels, its longest span in
the pipeline's own tokens, and whether its entities nest. Data with
relations adds a globalpointer_rel on the same token vectors (a shared
tok2vec on the CPU), its labels and distance bound read from the data."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Union

from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY, DEFAULT_SPANS_KEY

TEMPLATE = Path(__file__).parent / "templates" / "init_config.cfg.jinja"
# Without training data to measure: the component's default.
DEFAULT_MAX_SPAN_LENGTH = 64
CPU_STEPS = 2000
# labels x head_size, which the CPU recipe keeps within this: the length of a pair's product per pointer
# (a candidate's projections are 4 times it: two pointers, query and key), the relation model's cost per
# pair and per candidate (docs/relations.md).
RELATION_LABEL_NUMBERS = 384
RELATION_HEAD_SIZES = (32, 16, 8)


def relation_head_size(n_labels: int) -> int:
    """The CPU recipe's head_size for ``n_labels`` relation labels: the largest of RELATION_HEAD_SIZES
    whose labels x head_size stay within RELATION_LABEL_NUMBERS (32 up to 12 labels, 16 up to 24, then
    8), so that a set of many labels does not multiply the relation component's training cost."""
    fits = [size for size in RELATION_HEAD_SIZES if n_labels * size <= RELATION_LABEL_NUMBERS]
    return fits[0] if fits else RELATION_HEAD_SIZES[-1]


@dataclass
class DataFacts:
    """What a training DocBin says about the config it needs."""

    labels: List[str] = field(default_factory=list)
    max_span_length: int = 1
    nested: bool = False
    docs: int = 0
    spans: int = 0
    relation_labels: List[str] = field(default_factory=list)
    relations: int = 0
    # The farthest related entities, starts or ends, in the pipeline's tokens.
    max_distance: int = 1


def default_transformer(lang: str) -> str:
    """The transformer spaCy's own quickstart recommends for ``lang`` (its
    multilingual default where it names none)."""
    import spacy
    import srsly

    path = Path(spacy.__file__).parent / "cli" / "templates" / "quickstart_training_recommendations.yml"
    recommendations = srsly.read_yaml(path)

    def name(key: str) -> Optional[str]:
        trf = (recommendations.get(key) or {}).get("transformer") or {}
        return (trf.get("efficiency") or {}).get("name")

    return name(lang) or name("__default__") or "bert-base-multilingual-uncased"


def max_positions(transformer: str) -> int:
    """The position limit of a local transformer folder (its config.json), else BERT's 512."""
    config = Path(transformer) / "config.json"
    if config.is_file():
        return int(json.loads(config.read_text(encoding="utf8")).get("max_position_embeddings", 512))
    return 512


def read_facts(
    train: Union[str, Path],
    lang: str,
    spans_key: str = DEFAULT_SPANS_KEY,
    relations_key: str = DEFAULT_RELATIONS_KEY,
) -> DataFacts:
    """Labels, the longest gold span in the tokens training will see (a
    blank ``lang`` pipeline's, or the doc's own words where its spaces are
    unknown, as spaCy's corpus reader does), whether any
    two gold spans of a doc overlap, and the relations' labels and longest
    distance (starts or ends) in those tokens."""
    from spacy.tokens import Doc, DocBin
    from spacy.training import Example

    from spacy_globalpointer.pipeline.relations import relations
    from spacy_globalpointer.training.convert import make_tokenizer

    nlp = make_tokenizer(lang)
    assert nlp is not None  # make_tokenizer returns None only without a language or a model
    facts = DataFacts()
    labels: Set[str] = set()
    relation_labels: Set[str] = set()
    for ref in DocBin().from_disk(train).get_docs(nlp.vocab):
        # The tokens training will see: spaCy's corpus keeps a doc's own words when its spaces are
        # unknown (a DocBin made from words alone), else it tokenizes the text.
        predicted = (
            Doc(nlp.vocab, words=[t.text for t in ref]) if ref.has_unknown_spaces else nlp.make_doc(ref.text)
        )
        # One alignment of the gold to those tokens, for the spans and the relations.
        example = Example(predicted, ref)
        spans = list(ref.spans[spans_key]) if spans_key in ref.spans else list(ref.ents)
        facts.docs += 1
        facts.spans += len(spans)
        labels.update(s.label_ for s in spans)
        ordered = sorted(spans, key=lambda s: (s.start, -s.end))
        facts.nested = facts.nested or any(b.start < a.end for a, b in zip(ordered, ordered[1:]))
        if spans:
            aligned = example.get_aligned_spans_y2x(spans, allow_overlap=True)
            facts.max_span_length = max([facts.max_span_length] + [len(s) for s in aligned])
        rels = relations(ref, relations_key)
        facts.relations += len(rels)
        relation_labels.update(r.label for r in rels)
        for rel in rels:
            pair = example.get_aligned_spans_y2x([rel.head, rel.tail], allow_overlap=True)
            if len(pair) == 2:
                (h, t) = pair
                facts.max_distance = max(facts.max_distance, abs(h.start - t.start), abs(h.end - t.end))
    facts.labels = sorted(labels)
    facts.relation_labels = sorted(relation_labels)
    return facts


def check_vectors(path: Union[str, Path], lang: str, gpu: bool) -> Path:
    """A spaCy vectors folder (what `spacy init vectors` writes: a pipeline
    folder whose vocab has vectors) the CPU recipe can read; an error that
    names the folder and what is wrong otherwise."""
    import spacy

    folder = Path(path)
    if gpu:
        raise ValueError(
            f"--vectors {folder}: static vectors are for the CPU recipes (--gpu reads a transformer)"
        )
    if lang == "zh":
        raise ValueError(
            f"--vectors {folder}: the zh recipe embeds characters, bigrams and words (NgramHashEmbed), which "
            "takes no static vectors; use word vectors with a word-token language"
        )
    if not (folder / "vocab").is_dir():
        raise ValueError(
            f"--vectors {folder}: not a spaCy vectors folder (no vocab/ in it): make one with "
            f"`spacy init vectors {lang} VECTORS.txt {folder}`"
        )
    vectors = spacy.load(folder).vocab.vectors
    if vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise ValueError(f"--vectors {folder}: its vocab has no vectors (shape {vectors.shape})")
    return folder


def render_config(
    lang: str,
    *,
    gpu: bool = False,
    transformer: Optional[str] = None,
    facts: Optional[DataFacts] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    relations_key: str = DEFAULT_RELATIONS_KEY,
    train_path: Optional[str] = None,
    dev_path: Optional[str] = None,
    output_name: str = "config.cfg",
    vectors: Optional[str] = None,
) -> str:
    """The config's text. Without ``facts`` the labels are read from the data
    at initialize, max_span_length is the component's default and the
    selection is on the nested spans. With ``facts`` that hold relations,
    the config trains a globalpointer_rel too. ``vectors``: a vectors folder
    (check_vectors) the CPU tok2vec embeds beside its hashed features."""
    import jinja2
    import spacy

    spacy.util.get_lang_class(lang)  # an unknown language fails here, naming it
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(TEMPLATE.read_text(encoding="utf8"))
    transformer = transformer or (default_transformer(lang) if gpu else None)
    values: Dict[str, object] = {
        "lang": lang,
        "gpu": gpu,
        "transformer": transformer or "",
        "max_positions": max_positions(transformer) if transformer else 512,
        "spans_key": spans_key,
        "labels": facts.labels if facts else [],
        "labels_json": json.dumps(facts.labels if facts else [], ensure_ascii=False),
        "max_span_length": facts.max_span_length if facts else DEFAULT_MAX_SPAN_LENGTH,
        "nested": facts.nested if facts else True,
        "max_steps": CPU_STEPS,
        "train_path": json.dumps(train_path) if train_path else "null",
        "dev_path": json.dumps(dev_path) if dev_path else "null",
        "output_name": output_name,
        "relations": bool(facts and facts.relations),
        "relations_key": relations_key,
        "relation_labels": facts.relation_labels if facts else [],
        "relation_labels_json": json.dumps(facts.relation_labels if facts else [], ensure_ascii=False),
        "max_distance": facts.max_distance if facts else 64,
        "relation_head_size": relation_head_size(len(facts.relation_labels) if facts else 0),
        "relation_label_numbers": RELATION_LABEL_NUMBERS,
        "vectors_path": json.dumps(vectors) if vectors else "null",
        "static_vectors": bool(vectors),
        "entity_labels_json": json.dumps(facts.labels if facts else [], ensure_ascii=False),
    }
    return template.render(**values)
