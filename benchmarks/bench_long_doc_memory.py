"""Where one long doc's memory goes: RSS after each step of ``nlp(text)``.

    python benchmarks/bench_long_doc_memory.py --model training/cluener_cpu/model-calibrated --size 1000000

The doc is CLUENER dev's texts glued together, cut to --size characters. For
each step (loaded, make_doc, predict, set_annotations) prints the process's
RSS and peak RSS (/proc's VmRSS and VmHWM); writes JSON.
"""

import argparse
import gc
import json
from pathlib import Path

from common import status_mb, write_results

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "cluener"


def memory_mb() -> dict:
    status = status_mb()
    return {key: int(status[key]) for key in ("VmRSS", "VmHWM")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "training" / "cluener_cpu" / "model-calibrated"))
    p.add_argument("--size", type=int, default=1_000_000, help="characters")
    p.add_argument("--dev", default=str(DATA / "dev.json"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "long_doc_memory.json"))
    args = p.parse_args()

    import spacy
    from wasabi import msg

    texts = [json.loads(line)["text"] for line in open(args.dev, encoding="utf8") if line.strip()]
    text = ("".join(texts) * (args.size // sum(map(len, texts)) + 1))[: args.size]
    nlp = spacy.load(args.model)
    nlp("热身")  # first-call allocations are not the doc's
    gp = nlp.get_pipe("globalpointer_ner")
    steps = [("loaded", memory_mb())]
    doc = nlp.make_doc(text)
    steps.append(("make_doc", memory_mb()))
    for name, component in nlp.pipeline:
        if name != "globalpointer_ner":
            doc = component(doc)
    candidates = gp.predict([doc])
    steps.append(("predict", memory_mb()))  # encoder, head, decoding
    gp.set_annotations([doc], candidates)
    del candidates
    gc.collect()
    steps.append(("set_annotations", memory_mb()))
    rows = [(name, m["VmRSS"], m["VmHWM"]) for name, m in steps]
    msg.table(rows, header=("step", "RSS MB", "peak MB"), divider=True, aligns=("l", "r", "r"))
    print(f"{len(doc)} tokens, {len(doc.spans[gp.spans_key])} spans, {len(doc.ents)} ents")
    write_results(
        args.out,
        {
            "model": args.model,
            "chars": len(text),
            "tokens": len(doc),
            "steps": [{"step": n, "rss_mb": r, "peak_mb": h} for n, r, h in rows],
        },
    )


if __name__ == "__main__":
    main()
