"""CLUENER 2020 I/O: JSON lines <-> spaCy Docs, and its two metrics.

CLUENER offsets are character offsets with an *inclusive* end; spaCy's
``Span.end_char`` is exclusive. The two conversion functions below are the
only places that add or remove that 1.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from spacy.language import Language
from spacy.scorer import PRFScore
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from .inputs import InputError, count_lines, iter_json_lines, parse_json_line

CLUENER_LABELS = (
    "address",
    "book",
    "company",
    "game",
    "government",
    "movie",
    "name",
    "organization",
    "position",
    "scene",
)
ID_KEY = "cluener_id"


def cluener_to_char_offsets(start: int, end_inclusive: int) -> Tuple[int, int]:
    """CLUENER [start, end] (inclusive) -> Python/spaCy [start, end) (exclusive)."""
    return start, end_inclusive + 1


def char_offsets_to_cluener(start: int, end_exclusive: int) -> Tuple[int, int]:
    """Python/spaCy [start, end) (exclusive) -> CLUENER [start, end] (inclusive)."""
    return start, end_exclusive - 1


class CluenerError(InputError):
    """Bad CLUENER input; the message names the file, the line and the field."""


@dataclass
class Entity:
    label: str
    start: int  # character offset, inclusive
    end: int  # character offset, exclusive
    text: str


@dataclass
class Record:
    """One CLUENER line. ``entities`` carry exclusive ends."""

    path: str
    line_no: int
    text: str
    id: Any = None
    entities: List[Entity] = field(default_factory=list)

    def where(self, field_name: str = "") -> str:
        return f"{self.path}:{self.line_no}" + (f": field {field_name}" if field_name else "")


@dataclass
class Report:
    """What a conversion read, kept and skipped: printed, and returned to callers."""

    docs: int = 0
    entities: Counter = field(default_factory=Counter)
    not_in_ents: int = 0
    skipped: List[str] = field(default_factory=list)


def parse_cluener_object(obj: Union[Dict[str, Any], InputError], path: str, line_no: int) -> Record:
    """One CLUENER line (as iter_json_lines gives it) -> Record, or a
    CluenerError saying where and what."""

    def fail(field_name: str, msg: str) -> CluenerError:
        return CluenerError(
            f"{path}:{line_no}: field {field_name}: {msg}" if field_name else f"{path}:{line_no}: {msg}"
        )

    if isinstance(obj, InputError):
        raise CluenerError(str(obj))
    text = obj.get("text")
    if not isinstance(text, str):
        raise fail("text", "missing or not a string")
    record = Record(path=path, line_no=line_no, text=text, id=obj.get("id"))
    labels = obj.get("label", {})
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise fail(
            "label", f"expected {{type: {{entity: [[start, end], ...]}}}}, got {type(labels).__name__}"
        )
    for label, entities in labels.items():
        if not isinstance(entities, dict):
            raise fail(
                f"label.{label}", f"expected {{entity: [[start, end], ...]}}, got {type(entities).__name__}"
            )
        for surface, positions in entities.items():
            where = f"label.{label}.{surface}"
            if not isinstance(positions, list):
                raise fail(where, f"expected a list of [start, end] pairs, got {type(positions).__name__}")
            for pos in positions:
                ints = (
                    all(isinstance(p, int) and not isinstance(p, bool) for p in pos)
                    if isinstance(pos, list)
                    else False
                )
                if not (isinstance(pos, list) and len(pos) == 2 and ints):
                    raise fail(where, f"expected [start, end] integers, got {pos!r}")
                start, end = cluener_to_char_offsets(*pos)
                if not 0 <= start < end <= len(text):
                    raise fail(where, f"offsets {pos} out of range for a text of {len(text)} characters")
                if text[start:end] != surface:
                    raise fail(where, f"offsets {pos} cover {text[start:end]!r}, not {surface!r}")
                record.entities.append(Entity(label, start, end, surface))
    return record


def parse_line(line: str, path: str, line_no: int) -> Record:
    """One CLUENER JSON line -> Record, or a CluenerError saying where and what."""
    return parse_cluener_object(parse_json_line(line, path, line_no), path, line_no)


def read_cluener(
    path: Union[str, Path], *, skip_invalid: bool = False, report: Optional[Report] = None
) -> Iterator[Record]:
    """Records of a CLUENER JSON-lines file, in order. A bad line raises a
    CluenerError, or with ``skip_invalid`` is left out and listed in ``report.skipped``."""
    for line_no, obj in iter_json_lines(path):
        try:
            yield parse_cluener_object(obj, str(path), line_no)
        except CluenerError as err:
            if not skip_invalid:
                raise
            if report is not None:
                report.skipped.append(str(err))


def record_to_doc(nlp: Language, record: Record, spans_key: str = "sc") -> Doc:
    """A Doc with every entity in doc.spans[spans_key], a non-overlapping
    subset (longest first) in doc.ents, and the line's id in doc.user_data."""
    doc = nlp.make_doc(record.text)
    spans = []
    for ent in record.entities:
        span = doc.char_span(ent.start, ent.end, label=ent.label, alignment_mode="strict")
        if span is None:
            raise CluenerError(
                f"{record.where(f'label.{ent.label}.{ent.text}')}: characters {ent.start}..{ent.end - 1} "
                f"do not fall on token boundaries of the tokenizer ({nlp.config['nlp']['tokenizer']})"
            )
        spans.append(span)
    doc.spans[spans_key] = sorted(spans, key=lambda s: (s.start, s.end, s.label_))
    doc.set_ents(filter_spans(spans), default="outside")
    if record.id is not None:
        doc.user_data[ID_KEY] = record.id
    return doc


def records_to_docs(
    nlp: Language,
    records: Iterable[Record],
    spans_key: str = "sc",
    *,
    skip_invalid: bool = False,
    report: Optional[Report] = None,
) -> Iterator[Doc]:
    """Docs for records; counts go to ``report``. Token-boundary errors are
    raised, or skipped and listed with ``skip_invalid``."""
    report = report if report is not None else Report()
    for record in records:
        try:
            doc = record_to_doc(nlp, record, spans_key)
        except CluenerError as err:
            if not skip_invalid:
                raise
            report.skipped.append(str(err))
            continue
        report.docs += 1
        report.entities.update(ent.label for ent in record.entities)
        report.not_in_ents += len(record.entities) - len(doc.ents)
        yield doc


def spans_to_labels(doc: Doc, spans: Iterable[Span]) -> Dict[str, Dict[str, List[List[int]]]]:
    """CLUENER's ``label`` field for spans of doc (inclusive ends, sorted)."""
    out: Dict[str, Dict[str, List[List[int]]]] = defaultdict(lambda: defaultdict(list))
    for span in sorted(spans, key=lambda s: (s.start_char, s.end_char, s.label_)):
        out[span.label_][doc.text[span.start_char : span.end_char]].append(
            list(char_offsets_to_cluener(span.start_char, span.end_char))
        )
    return {label: dict(ents) for label, ents in out.items()}


def doc_to_record(
    doc: Doc, *, source: str = "ents", spans_key: str = "sc", with_text: bool = False
) -> Dict[str, Any]:
    """One CLUENER line for a doc: ``{"id", "label"}`` (``"text"`` too if asked),
    from doc.ents (``source="ents"``) or doc.spans[spans_key] (``"spans"``)."""
    if source not in ("ents", "spans"):
        raise ValueError(f"source must be 'ents' or 'spans', got {source!r}")
    spans = doc.ents if source == "ents" else doc.spans.get(spans_key, [])
    out: Dict[str, Any] = {}
    if ID_KEY in doc.user_data:
        out["id"] = doc.user_data[ID_KEY]
    if with_text:
        out["text"] = doc.text
    out["label"] = spans_to_labels(doc, spans)
    return out


# --- metrics -----------------------------------------------------------------


def _prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    """spaCy's PRFScore, with the counts it was computed from."""
    return {**PRFScore(tp=tp, fp=fp, fn=fn).to_dict(), "tp": tp, "fp": fp, "fn": fn}


def _pair_lines(
    gold: List[Dict[str, Any]], pred: List[Dict[str, Any]]
) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """Pair lines by id when every line has one, else by position."""
    if all("id" in g for g in gold) and all("id" in p for p in pred):
        by_id = {p["id"]: p for p in pred}
        return [(g, by_id.get(g["id"], {"label": {}})) for g in gold]
    if len(gold) != len(pred):
        raise ValueError(
            f"gold has {len(gold)} lines and predictions {len(pred)}, and lines carry no ids to pair them by"
        )
    return list(zip(gold, pred))


def exact_scores(gold: List[Dict[str, Any]], pred: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Micro P/R/F over exact (start, end, label) triples, and per label."""
    counts: Dict[str, List[int]] = defaultdict(lambda: [0, 0, 0])
    for g, p in _pair_lines(gold, pred):
        g_set = {
            (label, s, e)
            for label, ents in (g.get("label") or {}).items()
            for pos in ents.values()
            for s, e in pos
        }
        p_set = {
            (label, s, e)
            for label, ents in (p.get("label") or {}).items()
            for pos in ents.values()
            for s, e in pos
        }
        for label, *_ in g_set & p_set:
            counts[label][0] += 1
        for label, *_ in p_set - g_set:
            counts[label][1] += 1
        for label, *_ in g_set - p_set:
            counts[label][2] += 1
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {**_prf(*total), "per_type": {label: _prf(*c) for label, c in sorted(counts.items())}}


def official_scores(
    gold: List[Dict[str, Any]], pred: List[Dict[str, Any]], labels: Optional[Iterable[str]] = None
) -> Dict[str, Any]:
    """The CLUENER leaderboard metric: per label, the entity *strings* of each
    line are compared (positions ignored), TP/FP/FN summed over lines, F1 per
    label; the score is the macro average of F1 over the labels (by default
    CLUENER's ten, or the gold file's own labels if it has others)."""
    if labels is None:
        seen = {label for g in gold for label in (g.get("label") or {})}
        labels = CLUENER_LABELS if seen <= set(CLUENER_LABELS) else sorted(seen)
    labels = list(labels)
    per_type = {}
    for label in labels:
        tp = fp = fn = 0
        for g, p in _pair_lines(gold, pred):
            g_keys = set((g.get("label") or {}).get(label, {}))
            p_keys = set((p.get("label") or {}).get(label, {}))
            tp += len(p_keys & g_keys)
            fp += len(p_keys - g_keys)
            fn += len(g_keys - p_keys)
        per_type[label] = _prf(tp, fp, fn)
    macro = sum(v["f"] for v in per_type.values()) / len(labels) if labels else 0.0
    return {"macro_f": macro, "per_type": per_type}


def load_json_lines(path: Union[str, Path]) -> List[Dict[str, Any]]:
    """A whole JSON-lines file as dicts (for scoring); a bad line is a
    CluenerError naming file and line."""
    out = []
    for _, obj in iter_json_lines(path):
        if isinstance(obj, InputError):
            raise CluenerError(str(obj))
        out.append(obj)
    return out


# --- files -------------------------------------------------------------------


def convert(
    in_path: Union[str, Path],
    out_path: Union[str, Path],
    *,
    nlp: Optional[Language] = None,
    spans_key: str = "sc",
    skip_invalid: bool = False,
    progress: bool = True,
) -> Report:
    """CLUENER JSON lines -> a DocBin (.spacy). Returns what was converted and skipped."""
    import spacy
    from spacy.tokens import DocBin
    from tqdm import tqdm

    from .speedups import cached_msgpack_lookup

    nlp = nlp or spacy.blank("zh")
    report = Report()
    records = read_cluener(in_path, skip_invalid=skip_invalid, report=report)
    if progress:
        records = tqdm(
            records,
            total=count_lines(in_path),
            desc=f"convert {Path(in_path).name}",
            unit=" lines",
            leave=False,
        )
    db = DocBin(store_user_data=True)
    with cached_msgpack_lookup():
        for doc in records_to_docs(nlp, records, spans_key, skip_invalid=skip_invalid, report=report):
            db.add(doc)
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        db.to_disk(out_path)
    return report
