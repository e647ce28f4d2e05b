"""Annotated files in any supported format -> DocBins for training: the
format chosen (or detected), each record read by its format's reader,
tokenized and aligned (alignment.py), optionally split into train and dev
by document, and a report of everything read, written, moved or left out."""

import json
import math
import random
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc

from spacy_globalpointer.files.json_lines import InputError, decode_line
from spacy_globalpointer.pipeline.keys import DEFAULT_RELATIONS_KEY, DEFAULT_SPANS_KEY
from spacy_globalpointer.training.alignment import record_to_doc
from spacy_globalpointer.training.convert_report import ConvertReport
from spacy_globalpointer.training.converters.gold_records import FormatError, GoldRecord, Ignored, Notice

FORMATS = ("auto", "cluener", "spans", "doccano", "label-studio", "brat", "conll")
# The formats whose reader takes a folder (the others read files).
FOLDER_FORMATS = ("brat", "doccano")
# Suffixes that say the format by themselves.
CONLL_SUFFIXES = (".conll", ".conllx", ".iob", ".iob1", ".iob2", ".bio", ".bioes", ".bmes", ".tsv")


def format_readers() -> Dict[str, Callable[..., Iterable[Union[GoldRecord, Ignored, FormatError, Notice]]]]:
    """Each format's reader (training/converters/), by the name --format takes."""
    from spacy_globalpointer.training.converters.brat import read_brat
    from spacy_globalpointer.training.converters.cluener import read_cluener
    from spacy_globalpointer.training.converters.conll import read_conll
    from spacy_globalpointer.training.converters.doccano import read_doccano
    from spacy_globalpointer.training.converters.label_studio import read_label_studio
    from spacy_globalpointer.training.converters.spans import read_spans

    return {
        "cluener": read_cluener,
        "spans": read_spans,
        "doccano": read_doccano,
        "label-studio": read_label_studio,
        "brat": read_brat,
        "conll": read_conll,
    }


def detect_format(path: Union[str, Path]) -> Tuple[str, str]:
    """The format of a file or folder, and why: brat for a folder or .ann
    file, doccano for a .zip or a folder of .jsonl files without .ann files
    (doccano's export), conll by suffix, else from the first JSON value (a
    list: Label Studio; an object: its fields)."""
    path = Path(path)
    if path.is_dir() and not any(path.rglob("*.ann")) and any(path.glob("*.jsonl")):
        return "doccano", "a folder of .jsonl files (doccano's export, one per annotator)"
    if path.suffix == ".zip":
        return "doccano", "the suffix .zip (doccano's export)"
    if path.is_dir() or path.suffix == ".ann":
        return "brat", "a folder of .ann files" if path.is_dir() else "the suffix .ann"
    if path.suffix in CONLL_SUFFIXES:
        return "conll", f"the suffix {path.suffix}"
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    first = next((line for line in head.split(b"\n") if line.strip()), b"").lstrip(b"\xef\xbb\xbf").strip()
    if first.startswith(b"["):
        return "label-studio", "a JSON list"
    text = decode_line(first, str(path), 1)
    try:
        obj = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: cannot tell its format from its first line: give --format")
    if isinstance(obj.get("label"), dict):
        return "cluener", "a first record with a label object"
    if isinstance(obj.get("data"), dict) and ("annotations" in obj or "predictions" in obj):
        return "label-studio", "a first record with data and annotations or predictions"
    if "spans" in obj or "tokens" in obj or "answer" in obj:
        return "spans", "a first record with spans"
    if isinstance(obj.get("label"), list) or isinstance(obj.get("labels"), list) or "entities" in obj:
        return "doccano", "a first record with label triples or entities"
    raise InputError(
        f"{path}: cannot tell its format from its first record's fields {sorted(obj)}: give --format"
    )


def make_tokenizer(lang: Optional[str] = None, model: Optional[str] = None) -> Optional[Language]:
    """The pipeline whose tokenizer converts texts: a pipeline the user runs
    (``model``), a blank one of ``lang`` (zh: character tokens, in linear
    time), or None when neither is given."""
    import spacy

    if model is not None:
        return spacy.load(model)
    if lang == "zh":
        char = {"nlp": {"tokenizer": {"@tokenizers": "spacy_globalpointer.ChineseCharTokenizer.v1"}}}
        return spacy.blank("zh", config=char)
    return spacy.blank(lang) if lang is not None else None


def convert(
    inputs: Sequence[Union[str, Path]],
    output: Union[str, Path],
    *,
    format: str = "auto",
    nlp: Optional[Language] = None,
    alignment: str = "strict",
    spans_key: str = DEFAULT_SPANS_KEY,
    relations_key: str = DEFAULT_RELATIONS_KEY,
    skip_invalid: bool = False,
    dev_fraction: float = 0.0,
    dev_output: Optional[Union[str, Path]] = None,
    seed: int = 0,
    reader_options: Optional[Dict[str, Dict[str, Any]]] = None,
    progress: bool = True,
    on_format: Optional[Callable[[str, str], None]] = None,
) -> ConvertReport:
    """Convert ``inputs`` (files or folders, one format) to the DocBin
    ``output`` (and ``dev_output``, with ``dev_fraction`` of the documents
    chosen with ``seed``), and write the report beside it as
    OUTPUT.report.json. ``nlp`` tokenizes texts that come without tokens
    (make_tokenizer); without one, such a text is an error. A bad record
    raises its FormatError, or with ``skip_invalid`` is listed and left out.
    ``reader_options``: per format, its reader's settings (conll's scheme,
    say). ``on_format`` hears the format chosen and why. Relations, where
    the format holds them, go on the Docs under ``relations_key``."""
    from spacy.tokens import DocBin

    from spacy_globalpointer.training.converters.conll import separator_for
    from spacy_globalpointer.training.msgpack_cache import cached_msgpack_lookup

    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "auto":
        format, why = detect_format(inputs[0])
        if on_format is not None:
            on_format(format, why)
    if format == "cluener" and nlp is None:
        nlp = make_tokenizer("zh")
    if not 0.0 <= dev_fraction < 1.0 or (dev_fraction > 0) != (dev_output is not None):
        raise ValueError("give both dev_fraction (0 < f < 1) and dev_output, or neither")
    report = ConvertReport(format=format)
    read = format_readers()[format]
    docs: List[Doc] = []
    groups: List[str] = []
    vocab_nlp = nlp
    options = dict((reader_options or {}).get(format, {}))
    if format == "conll" and "separator" not in options:
        options["separator"] = separator_for(nlp.lang if nlp is not None else None)
    for item in _progress(_read_all(read, inputs, options, format), progress):
        if isinstance(item, Notice):
            report.warnings.append(f"{item.source}: {item.message}")
            continue
        report.records += 1
        if isinstance(item, Ignored):
            report.ignored[item.reason] += 1
            continue
        try:
            if isinstance(item, FormatError):
                raise item
            if item.tokens is None and nlp is None:
                raise item.error("", "has no tokens of its own: give --lang or --model to tokenize it")
            if vocab_nlp is None:
                vocab_nlp = make_tokenizer("xx")
                assert vocab_nlp is not None  # make_tokenizer returns None only without a language
            doc, changes, relation_changes = record_to_doc(
                vocab_nlp, item, spans_key, alignment, skip_invalid, relations_key
            )
        except FormatError as err:
            if not skip_invalid:
                raise
            report.invalid.append(str(err))
            continue
        report.add(item, doc, changes, spans_key)
        report.add_relations(item, doc, relation_changes, relations_key)
        docs.append(doc)
        groups.append(item.doc_id if item.doc_id is not None else f"{item.source}:{item.line}")
    dev = dev_groups(groups, dev_fraction, seed)
    train_bin, dev_bin = DocBin(store_user_data=True), DocBin(store_user_data=True)
    with cached_msgpack_lookup():
        for doc, group in zip(docs, groups):
            (dev_bin if group in dev else train_bin).add(doc)
        _write(train_bin, output)
        if dev_output is not None:
            _write(dev_bin, dev_output)
    report.docs, report.dev_docs = len(train_bin), len(dev_bin)
    from spacy_globalpointer.files.json_lines import write_json

    write_json(report_path(output), report.to_dict())
    return report


def gold_docs(
    nlp: Language, records: Iterable[Union[GoldRecord, FormatError]], spans_key: str = DEFAULT_SPANS_KEY
) -> Iterator[Doc]:
    """The Docs of records that must all be clean (strict alignment): the
    first bad record or span raises its FormatError."""
    for record in records:
        if isinstance(record, FormatError):
            raise record
        yield record_to_doc(nlp, record, spans_key)[0]


def report_path(output: Union[str, Path]) -> Path:
    output = Path(output)
    return output.with_name(output.stem + ".report.json")


def dev_groups(groups: List[str], fraction: float, seed: int) -> set:
    """The documents (by group) of a deterministic dev split: ceil(fraction
    x documents) of them, drawn with ``seed`` from the documents in order of
    first appearance."""
    if fraction <= 0:
        return set()
    unique = list(dict.fromkeys(groups))
    random.Random(seed).shuffle(unique)
    return set(unique[: math.ceil(fraction * len(unique))])


def _read_all(
    read, inputs, options, format: str
) -> Iterator[Union[GoldRecord, Ignored, FormatError, Notice]]:
    for path in inputs:
        if not Path(path).exists():
            raise InputError(f"{path}: no such file or folder")
        if Path(path).is_dir() and format not in FOLDER_FORMATS:
            raise InputError(
                f"{path}: a folder; --format {format} reads files: give them ({Path(path) / '*.jsonl'}, say)"
            )
        yield from read(path, **options)


def _progress(items: Iterator, progress: bool) -> Iterator:
    """The items, with a progress bar on a terminal that is cleared however
    the loop ends (an error message then starts on a clean line)."""
    if not progress:
        yield from items
        return
    from tqdm import tqdm

    bar = tqdm(items, desc="convert", unit=" records", leave=False, disable=None)
    try:
        yield from bar
    finally:
        bar.close()


def _write(db, path: Union[str, Path]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(path)
