"""Console commands: ``spacy-globalpointer {convert,predict,score,interactive}``."""
import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from wasabi import msg

from . import cluener


def _table(rows, header) -> None:
    msg.table(rows, header=header, divider=True, aligns=("l",) + ("r",) * (len(header) - 1))


def cmd_convert(args) -> int:
    try:
        report = cluener.convert(args.input, args.output, spans_key=args.spans_key, skip_invalid=args.skip_invalid, progress=not args.no_progress)
    except cluener.CluenerError as err:
        msg.fail(str(err), "Fix the line, or pass --skip-invalid to leave bad lines out (they are listed).")
        return 1
    msg.good(f"Wrote {report.docs} docs with {sum(report.entities.values())} entities to {args.output}")
    _table([(label, n) for label, n in sorted(report.entities.items())], ("label", "entities"))
    if report.not_in_ents:
        msg.info(f"{report.not_in_ents} entities overlap a longer one: kept in doc.spans['{args.spans_key}'], left out of doc.ents")
    if report.skipped:
        msg.warn(f"Skipped {len(report.skipped)} invalid line(s):")
        for line in report.skipped:
            print(f"  {line}")
    return 0


def _use_gpu(gpu_id: int) -> None:
    if gpu_id >= 0:
        import spacy

        spacy.require_gpu(gpu_id)


def cmd_predict(args) -> int:
    import spacy

    _use_gpu(args.gpu_id)
    nlp = spacy.load(args.model)
    n = cluener.predict_file(nlp, args.input, args.output, source=args.source, spans_key=args.spans_key, batch_size=args.batch_size, progress=not args.no_progress)
    msg.good(f"Wrote {n} predictions ({args.source}) to {args.output}")
    if args.displacy:
        texts = [r.text for _, r in zip(range(args.displacy_limit), cluener.read_cluener(args.input))]
        write_displacy(list(nlp.pipe(texts)), args.displacy, args.spans_key or cluener._pipeline_spans_key(nlp))
        msg.good(f"Wrote a displaCy sample of {len(texts)} docs to {args.displacy}")
    return 0


def write_displacy(docs, path, spans_key: str) -> None:
    """One HTML page: nested spans (displaCy's span style), then the flat doc.ents."""
    import warnings

    from spacy import displacy

    with warnings.catch_warnings():
        # W117/W006: a doc of the sample without entities is not news.
        warnings.filterwarnings("ignore", message=r"\[W(117|006)\]")
        spans = displacy.render(docs, style="span", options={"spans_key": spans_key}, page=False, jupyter=False)
        ents = displacy.render(docs, style="ent", page=False, jupyter=False)
    html = f"<!DOCTYPE html><html lang='zh'><meta charset='utf-8'><body><h2>doc.spans['{spans_key}'] (nested)</h2>{spans}<h2>doc.ents (flat)</h2>{ents}</body></html>"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(html, encoding="utf8")


def score_files(gold_path, pred_path):
    gold, pred = cluener.load_json_lines(gold_path), cluener.load_json_lines(pred_path)
    return {"exact": cluener.exact_scores(gold, pred), "official": cluener.official_scores(gold, pred)}


def cmd_score(args) -> int:
    scores = score_files(args.gold, args.pred)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(scores, indent=2, ensure_ascii=False), encoding="utf8")
    if args.json:
        print(json.dumps(scores, indent=2, ensure_ascii=False))
        return 0
    exact, official = scores["exact"], scores["official"]
    pct = lambda v: f"{100 * v:.2f}"
    msg.divider("Exact (start, end, label) match, micro")
    rows = [(label, pct(v["p"]), pct(v["r"]), pct(v["f"]), v["tp"] + v["fn"]) for label, v in exact["per_type"].items()]
    rows.append(("ALL (micro)", pct(exact["p"]), pct(exact["r"]), pct(exact["f"]), exact["tp"] + exact["fn"]))
    _table(rows, ("label", "P", "R", "F", "gold"))
    msg.divider("CLUENER official: entity strings per line, macro over labels")
    rows = [(label, pct(v["p"]), pct(v["r"]), pct(v["f"])) for label, v in official["per_type"].items()]
    rows.append(("MACRO F", "", "", pct(official["macro_f"])))
    _table(rows, ("label", "P", "R", "F"))
    return 0


def _typed_texts(text: Optional[str]):
    """The one --text, or lines typed at the prompt until an empty line or Ctrl-D."""
    if text is not None:
        yield text
        return
    msg.info("Type a sentence and press Enter (an empty line or Ctrl-D ends).")
    while True:
        try:
            line = input("> ")
        except EOFError:
            return
        if not line.strip():
            return
        yield line


def cmd_interactive(args) -> int:
    import spacy
    from spacy import displacy

    _use_gpu(args.gpu_id)
    nlp = spacy.load(args.model)
    key = args.spans_key or cluener._pipeline_spans_key(nlp)
    docs = []
    for text in _typed_texts(args.text):
        doc = nlp(text)
        docs.append(doc)
        scores = doc.spans[key].attrs.get("scores", []) if key in doc.spans else []
        in_ents = {(e.start, e.end, e.label_) for e in doc.ents}
        rows = [
            (span.label_, span.text, *cluener.char_offsets_to_cluener(span.start_char, span.end_char), f"{float(score):.2f}", "yes" if (span.start, span.end, span.label_) in in_ents else "")
            for span, score in zip(doc.spans.get(key, []), scores)
        ]
        if rows:
            _table(rows, ("label", "text", "start", "end (incl.)", "score", "in ents"))
        else:
            msg.text("(no entities)")
    if args.displacy and docs:
        write_displacy(docs, args.displacy, key)
        msg.good(f"Wrote {len(docs)} doc(s) to {args.displacy}")
    if args.serve and docs:
        displacy.serve(docs, style="span", options={"spans_key": key}, port=args.port, host="127.0.0.1")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacy-globalpointer", description="GlobalPointer NER for spaCy: CLUENER conversion, prediction and scoring.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="CLUENER JSON lines -> spaCy DocBin (.spacy)", description="Convert CLUENER JSON lines to a DocBin: every entity in doc.spans[SPANS_KEY], a non-overlapping subset in doc.ents, the line's id in doc.user_data. Bad lines are errors naming file, line and field.")
    p.add_argument("input", help="CLUENER .json (JSON lines)")
    p.add_argument("output", help="output .spacy file")
    p.add_argument("--spans-key", default="sc", help="doc.spans key for all entities (default: sc)")
    p.add_argument("--skip-invalid", action="store_true", help="leave invalid lines out and list them, instead of stopping at the first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("predict", help="write a CLUENER submission file", description="Predict a CLUENER file with a trained pipeline; writes one {id, label} line per input line, in input order, with inclusive end offsets.")
    p.add_argument("model", help="pipeline name or path (e.g. training/model-best)")
    p.add_argument("input", help="CLUENER .json (JSON lines, e.g. test.json with ids)")
    p.add_argument("output", help="output .json (e.g. cluener_predict.json)")
    p.add_argument("--source", choices=("ents", "spans"), default="ents", help="ents: doc.ents, flat, what CLUENER's (flat) gold expects (default); spans: doc.spans[SPANS_KEY], nested")
    p.add_argument("--spans-key", default=None, help="doc.spans key to read with --source spans (default: the component's)")
    p.add_argument("--batch-size", type=int, default=64, help="docs per nlp.pipe batch (default: 64)")
    p.add_argument("--gpu-id", type=int, default=-1, help="GPU id, -1 for CPU (default: -1)")
    p.add_argument("--displacy", default=None, help="also write the first --displacy-limit docs to this HTML file (displaCy: nested spans and ents)")
    p.add_argument("--displacy-limit", type=int, default=25, help="docs in the --displacy sample (default: 25)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("score", help="score CLUENER predictions against gold", description="Exact (start, end, label) micro P/R/F per label, and the official CLUENER metric (entity strings per line, macro F over labels).")
    p.add_argument("gold", help="gold CLUENER .json")
    p.add_argument("pred", help="predicted CLUENER .json (same lines, or the same ids)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--output", default=None, help="also write the scores as JSON to this file")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("interactive", help="type sentences, see entities", description="Type a sentence, see every predicted span (label, text, offsets with inclusive end, score, whether it is in doc.ents).")
    p.add_argument("model", help="pipeline name or path")
    p.add_argument("--text", default=None, help="score this one text and stop, instead of reading from the keyboard")
    p.add_argument("--spans-key", default=None, help="doc.spans key (default: the component's)")
    p.add_argument("--displacy", default=None, help="write the docs to this HTML file with displaCy's span style (nested spans)")
    p.add_argument("--serve", action="store_true", help="serve the docs with displaCy on 127.0.0.1 when done")
    p.add_argument("--port", type=int, default=5002, help="port for --serve (default: 5002)")
    p.add_argument("--gpu-id", type=int, default=-1, help="GPU id, -1 for CPU (default: -1)")
    p.set_defaults(func=cmd_interactive)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
