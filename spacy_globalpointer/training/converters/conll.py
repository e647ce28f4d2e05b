"""CoNLL-style columns: one token per line, a blank line between sentences,
``-DOCSTART-`` between documents. Tags in IOB1, IOB2, BIOES (BILOU) or BMES,
detected from the whole file or given. The text of a sentence is its tokens
joined by single spaces, or by nothing for a language written without spaces
between words (a character-per-line Chinese file gives the raw text back, so
the offsets are those of the text the pipeline later sees); entities are flat
by construction."""

from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

from spacy_globalpointer.files.json_lines import InputError, numbered_lines
from spacy_globalpointer.training.converters.gold_records import FormatError, GoldRecord, Mention

SCHEMES = ("iob1", "iob2", "bioes", "bmes")
_PREFIXES = {"B", "I", "E", "S", "L", "U", "M"}
# BILOU and BMES name BIOES's tags otherwise.
_CANONICAL = {"L": "E", "U": "S", "M": "I"}

Row = Tuple[int, str, str]  # line, token, tag
# Languages written without spaces between words: their tokens are joined with none.
UNSPACED_LANGS = ("zh", "ja", "th", "lo", "km", "my", "bo", "dz")


def separator_for(lang: Optional[str]) -> str:
    """What joins a sentence's tokens into its text in this language."""
    return "" if lang in UNSPACED_LANGS else " "


def read_conll(
    path: Union[str, Path],
    scheme: Optional[str] = None,
    token_col: int = 0,
    tag_col: int = -1,
    separator: str = " ",
) -> Iterator[Union[GoldRecord, FormatError]]:
    """Each sentence as a GoldRecord (its tokens joined by ``separator``), or
    a FormatError for a bad one."""
    if scheme is not None and scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    sentences = list(_sentences(path, token_col, tag_col))
    has_docs = any(isinstance(s, tuple) and s[0] == "doc" for s in sentences)
    if scheme is None:
        scheme = detect_scheme([s[1] for s in sentences if isinstance(s, tuple) and s[0] == "rows"])
    doc = 0
    for item in sentences:
        if isinstance(item, FormatError):
            yield item
        elif item[0] == "doc":
            doc += 1
        else:
            rows = item[1]
            try:
                yield _record(str(path), rows, scheme, f"{path}#{doc}" if has_docs else None, separator)
            except FormatError as err:
                yield err


def _sentences(path, token_col: int, tag_col: int):
    """("rows", [Row]) per sentence, ("doc", None) at each -DOCSTART-, or a
    FormatError for a line without the columns."""
    rows: List[Row] = []
    with open(path, "rb") as f:
        for line_no, line in numbered_lines(f, str(path)):
            if isinstance(line, InputError):
                yield FormatError(str(line))
                continue
            cols = line.split()
            if cols and cols[0] == "-DOCSTART-":
                if rows:
                    yield "rows", rows
                rows = []
                yield "doc", None
            elif not cols:
                if rows:
                    yield "rows", rows
                rows = []
            else:
                try:
                    rows.append((line_no, cols[token_col], cols[tag_col]))
                except IndexError:
                    yield FormatError(
                        f"{path}:{line_no}: expected a token in column {token_col} and a tag in column "
                        f"{tag_col}, got {len(cols)} column(s)"
                    )
    if rows:
        yield "rows", rows


def _split(tag: str) -> Tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in _PREFIXES or not label:
        return "?", tag
    return _CANONICAL.get(prefix, prefix) if prefix != "M" else "I", label


def detect_scheme(sentences: List[List[Row]]) -> str:
    """BMES if any tag is M-, BIOES if any is E-/S-/L-/U-, IOB1 if an I- tag
    opens an entity anywhere, else IOB2."""
    prefixes = {tag.split("-", 1)[0] for rows in sentences for _, _, tag in rows}
    if "M" in prefixes:
        return "bmes"
    if prefixes & {"E", "S", "L", "U"}:
        return "bioes"
    for rows in sentences:
        previous = ("O", "")
        for _, _, tag in rows:
            prefix, label = _split(tag)
            if prefix == "I" and (previous[0] == "O" or previous[1] != label):
                return "iob1"
            previous = (prefix, label)
    return "iob2"


def _record(source: str, rows: List[Row], scheme: str, doc_id: Optional[str], separator: str) -> GoldRecord:
    words = [token for _, token, _ in rows]
    starts, pos = [], 0
    for word in words:
        starts.append(pos)
        pos += len(word) + len(separator)
    record = GoldRecord(source, rows[0][0], separator.join(words), doc_id=doc_id)
    tokens = [(s, s + len(w)) for s, w in zip(starts, words)]
    record.tokens = tokens
    open_at: Optional[int] = None
    open_label = ""

    def close(end_token: int) -> None:
        assert open_at is not None  # close() ends the mention open at open_at
        start_char, end_char = tokens[open_at][0], tokens[end_token][1]
        record.mentions.append(
            Mention(start_char, end_char, open_label, f"tag {open_label}", rows[open_at][0])
        )

    for k, (line, _, tag) in enumerate(rows):
        prefix, label = _split(tag)
        if prefix == "?":
            raise record.error(
                "tag", f"{tag!r} is not a tag of {scheme.upper()} (O, or B-/I-/... and a type)", line
            )
        inside = open_at is not None and label == open_label
        if scheme in ("bioes", "bmes"):
            if prefix in ("I", "E") and not inside:
                raise record.error("tag", f"{tag} outside an entity of that type ({scheme.upper()})", line)
            if prefix in ("B", "S", "O") and open_at is not None:
                raise record.error(
                    "tag", f"{tag} before the entity opened at line {rows[open_at][0]} ended", line
                )
            if prefix in ("B", "S"):
                open_at, open_label = k, label
            if prefix in ("E", "S"):
                close(k)
                open_at = None
            continue
        if prefix in ("E", "S"):
            raise record.error("tag", f"{tag} in {scheme.upper()} (give --scheme bioes)", line)
        if prefix == "I" and not inside and scheme == "iob2":
            raise record.error(
                "tag", f"{tag} opens an entity, which IOB2 does not allow (try --scheme iob1)", line
            )
        if open_at is not None and not (prefix == "I" and inside):
            close(k - 1)
            open_at = None
        if prefix in ("B", "I") and open_at is None:
            open_at, open_label = k, label
    if open_at is not None:
        if scheme in ("bioes", "bmes"):
            raise record.error(
                "tag", f"the entity opened here is not closed with E-/S- ({scheme.upper()})", rows[open_at][0]
            )
        close(len(rows) - 1)
    return record
