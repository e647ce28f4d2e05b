"""Training and inference throughput on CLUENER dev: globalpointer_ner vs a
plain PyTorch loop written the way the common GlobalPointer scripts are.

    python benchmarks/bench_speed.py                       # CPU config + a tiny random BERT
    python benchmarks/bench_speed.py --transformer PATH    # any local Hugging Face folder
    python benchmarks/bench_speed.py --threads 1 --gpu-id 0

Both sides use the same encoder (the pipeline's own tok2vec, or the same
transformer weights) and the same head class, loss and thread count; ratios
are measured in the same run. The baseline predicts with the weights ours
ended training with, so both find the same (few) spans. Inference is timed
--repeats times per side and the median taken; the encoder's time per doc is
reported apart, since the padding it pays for bounds the baseline. Prints
tables and writes JSON (--out).
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dev", default=str(ROOT.parent / "shared" / "data" / "cluener" / "dev.json"), help="CLUENER dev.json")
    p.add_argument("--transformer", default=None, help="local HF model folder (default: build a tiny random BERT)")
    p.add_argument("--setups", default="cpu,trf", help="comma-separated: cpu (CPU tok2vec config), trf (transformer)")
    p.add_argument("--n-docs", type=int, default=512, help="docs used for inference (ours)")
    p.add_argument("--batch-size", type=int, default=16, help="training batch size, both sides")
    p.add_argument("--train-steps", type=int, default=20, help="timed training steps (ours)")
    p.add_argument("--baseline-train-steps", type=int, default=4, help="timed training steps (baseline)")
    p.add_argument("--baseline-docs", type=int, default=128, help="docs predicted one at a time (baseline)")
    p.add_argument("--repeats", type=int, default=3, help="timed inference passes per side; the median is reported")
    p.add_argument("--pad-to", type=int, default=256, help="baseline padding length")
    p.add_argument("--threads", type=int, default=None, help="pin torch/BLAS/OpenMP threads")
    p.add_argument("--gpu-id", type=int, default=-1, help="GPU id, -1 for CPU")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speed.json"), help="JSON output")
    return p.parse_args()


ARGS = parse_args()
if ARGS.threads:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import statistics  # noqa: E402
import tempfile  # noqa: E402

import numpy  # noqa: E402
import spacy  # noqa: E402
import thinc  # noqa: E402
import torch  # noqa: E402
from spacy.training import Example  # noqa: E402
from thinc.api import Config, fix_random_seed, torch2xp, xp2torch  # noqa: E402
from common import peak_rss_mb, write_results  # noqa: E402
from wasabi import msg  # noqa: E402

import spacy_globalpointer  # noqa: E402
from spacy_globalpointer import cluener  # noqa: E402
from spacy_globalpointer import pipe as gp_pipe  # noqa: E402
from spacy_globalpointer.heads import build_head  # noqa: E402
from spacy_globalpointer.loss import multilabel_categorical_crossentropy  # noqa: E402

if ARGS.threads:
    torch.set_num_threads(ARGS.threads)
DEVICE = torch.device(f"cuda:{ARGS.gpu_id}" if ARGS.gpu_id >= 0 else "cpu")


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def load_nlp(setup: str, trf_path: str):
    if setup == "cpu":
        config = Config().from_disk(ROOT / "configs" / "cluener_cpu.cfg")
    else:
        overrides = {"components.transformer.model.name": trf_path}
        if DEVICE.type == "cpu":
            overrides.update({"system.gpu_allocator": None, "components.transformer.model.mixed_precision": False, "components.globalpointer_ner.model.mixed_precision": False})
        config = Config().from_disk(ROOT / "configs" / "cluener_trf.cfg", overrides=overrides)
    return spacy.util.load_model_from_config(config, auto_fill=True)


def timed(fn, bucket):
    def wrapper(*args, **kwargs):
        sync()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        sync()
        bucket[0] += time.perf_counter() - t0
        return out

    return wrapper


def bench_ours(setup, trf_path, records):
    fix_random_seed(0)
    nlp = load_nlp(setup, trf_path)
    docs = list(cluener.records_to_docs(spacy.blank("zh"), records))
    examples = [Example(nlp.make_doc(d.text), d) for d in docs]
    for label in cluener.CLUENER_LABELS:
        nlp.get_pipe("globalpointer_ner").add_label(label)
    optimizer = nlp.initialize(get_examples=lambda: examples[:32])
    B = ARGS.batch_size
    batches = [examples[i : i + B] for i in range(0, len(examples), B)]
    for batch in batches[:2]:
        nlp.update(batch, sgd=optimizer)
    steps = batches[2 : 2 + ARGS.train_steps]
    sync()
    t0 = time.perf_counter()
    for batch in steps:
        nlp.update(batch, sgd=optimizer)
    sync()
    train_s = time.perf_counter() - t0
    n_train = sum(len(b) for b in steps)
    n_train_tokens = sum(len(eg.predicted) for b in steps for eg in b)

    # inference, with the head (scores + decode) timed apart from the encoder
    texts = [r.text for r in records[: ARGS.n_docs]]
    gp = nlp.get_pipe("globalpointer_ner")
    scorer = gp.model.get_ref("scorer")
    head_time, enc_time = [0.0], [0.0]
    scorer._func = timed(scorer._func, head_time)
    gp_pipe.decode_spans = timed(gp_pipe.decode_spans, head_time)
    if setup == "cpu":
        tok2vec = gp.model.get_ref("tok2vec")
        tok2vec._func = timed(tok2vec._func, enc_time)
    else:
        trf = nlp.get_pipe("transformer")
        trf.predict = timed(trf.predict, enc_time)
    list(nlp.pipe(texts[:64]))  # warm-up
    passes, heads, encs = [], [], []
    for _ in range(ARGS.repeats):
        head_time[0] = enc_time[0] = 0.0
        sync()
        t0 = time.perf_counter()
        list(nlp.pipe(texts))  # the pipeline's own batch size ([nlp] batch_size)
        sync()
        passes.append(time.perf_counter() - t0)
        heads.append(head_time[0] / passes[-1])
        encs.append(enc_time[0] / len(texts))
    infer_s = statistics.median(passes)
    return {
        "train_docs_per_s": n_train / train_s,
        "train_tokens_per_s": n_train_tokens / train_s,
        "infer_docs_per_s": len(texts) / infer_s,
        "infer_chars_per_s": sum(map(len, texts)) / infer_s,
        "head_share_of_inference": statistics.median(heads),
        "encoder_ms_per_doc": 1000 * statistics.median(encs),
        "infer_pass_s": passes,
    }, nlp


class Baseline:
    """The common scripts' way: every text padded to `pad_to`, a dense
    labels x pad_to x pad_to gold tensor per example built on the CPU,
    full-square scores, one text at a time at prediction, Python loops over
    the positive cells. Same encoder weights' architecture, same head, same loss."""

    def __init__(self, setup, trf_path, nlp_template):
        self.setup, self.L, self.C = setup, ARGS.pad_to, len(cluener.CLUENER_LABELS)
        self.labels = {label: i for i, label in enumerate(cluener.CLUENER_LABELS)}
        if setup == "cpu":
            fix_random_seed(0)
            fresh = load_nlp("cpu", trf_path)
            self.tok2vec = fresh.get_pipe("globalpointer_ner").model.get_ref("tok2vec")
            self.vocab = fresh.vocab
            self.tok2vec.initialize()
            self.optimizer = thinc.api.Adam(0.001)
            width = self.tok2vec.get_dim("nO")
        else:
            from transformers import AutoModel, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(trf_path)
            self.bert = AutoModel.from_pretrained(trf_path).to(DEVICE)
            width = self.bert.config.hidden_size
        self.head = build_head("GlobalPointer" if setup == "cpu" else "EfficientGlobalPointer", width, self.C, 64, True).to(DEVICE)
        params = list(self.head.parameters()) + (list(self.bert.parameters()) if setup != "cpu" else [])
        self.encoder_s = 0.0
        self.torch_opt = torch.optim.AdamW(params, lr=2e-5 if setup != "cpu" else 1e-3)

    def encode(self, texts, is_train):
        """(B, L, H) token vectors of texts padded to L, their lengths, and a backward hook."""
        lengths = torch.tensor([min(len(t), self.L) for t in texts], device=DEVICE)
        if self.setup == "cpu":
            from spacy.tokens import Doc

            docs = [Doc(self.vocab, words=list(t[: self.L]) + ["[PAD]"] * (self.L - min(len(t), self.L)), spaces=[False] * self.L) for t in texts]
            Y, backprop = self.tok2vec(docs, is_train)
            X = xp2torch(self.tok2vec.ops.xp.stack(Y), requires_grad=is_train)

            def backward():
                backprop(list(torch2xp(X.grad)))
                self.tok2vec.finish_update(self.optimizer)

            return X, lengths, backward
        enc = self.tokenizer(texts, padding="max_length", max_length=self.L, truncation=True, return_tensors="pt").to(DEVICE)
        X = self.bert(**enc).last_hidden_state
        return X, enc["attention_mask"].sum(1), lambda: None

    def gold(self, records):
        y = torch.zeros(len(records), self.C, self.L, self.L)
        offset = 0 if self.setup == "cpu" else 1  # [CLS]
        for b, r in enumerate(records):
            for ent in r.entities:
                if ent.end - 1 + offset < self.L:
                    y[b, self.labels[ent.label], ent.start + offset, ent.end - 1 + offset] = 1
        return y.to(DEVICE)

    def full_scores(self, X, lengths):
        """(B, C, L, L) scores as the scripts compute them: one einsum over all
        (start, end) pairs, then padding and start > end masked out."""
        q, k, start_bias, end_bias = self.head.project(X)  # RoPE and 1/sqrt(d) included
        scores = q @ k.transpose(-1, -2)
        if start_bias is not None:
            scores = scores + start_bias[..., :, None] + end_bias[..., None, :]
        pos = torch.arange(self.L, device=DEVICE)
        pad = (pos[None, :] < lengths[:, None])[:, None]
        mask = pad[..., :, None] & pad[..., None, :] & (pos[:, None] <= pos[None, :])
        return scores.masked_fill(~mask, -1e12), mask

    def train_step(self, records):
        X, lengths, backward = self.encode([r.text for r in records], True)
        scores, mask = self.full_scores(X, lengths)
        y = self.gold(records)
        n = len(records) * self.C
        mask = mask.expand_as(scores)
        loss = multilabel_categorical_crossentropy(scores.reshape(n, -1), y.bool().reshape(n, -1), mask.reshape(n, -1)).mean()
        self.torch_opt.zero_grad()
        loss.backward()
        backward()
        self.torch_opt.step()

    def load_weights_from(self, nlp):
        """Take the encoder and head weights of our trained pipeline."""
        gp = nlp.get_pipe("globalpointer_ner")
        self.head.load_state_dict(gp.model.get_ref("scorer").shims[0]._model.state_dict())
        if self.setup == "cpu":
            self.tok2vec.from_bytes(gp.model.get_ref("tok2vec").to_bytes())
        else:
            self.bert.load_state_dict(nlp.get_pipe("transformer").model.layers[0].shims[0]._model.state_dict())

    @torch.no_grad()
    def predict(self, text):
        sync()
        t0 = time.perf_counter()
        X, lengths, _ = self.encode([text], False)
        sync()
        self.encoder_s += time.perf_counter() - t0
        scores = self.full_scores(X, lengths)[0][0].cpu().numpy()
        out = {}
        for c, i, j in zip(*numpy.where(scores > 0)):
            out.setdefault(cluener.CLUENER_LABELS[c], []).append((int(i), int(j)))
        return out


def bench_baseline(setup, trf_path, records, nlp):
    base = Baseline(setup, trf_path, nlp)
    B = ARGS.batch_size
    base.train_step(records[:B])  # warm-up
    steps = [records[i : i + B] for i in range(B, B * (1 + ARGS.baseline_train_steps), B)]
    sync()
    t0 = time.perf_counter()
    for batch in steps:
        base.train_step(batch)
    sync()
    train_s = time.perf_counter() - t0
    # Predict with the weights ours ended with, so both sides find the same
    # (few) spans: the scripts' Python loop over positive cells then costs
    # what it costs on a trained model, not on random weights.
    base.load_weights_from(nlp)
    texts = [r.text for r in records[: ARGS.baseline_docs]]
    base.predict(texts[0])
    passes, encs = [], []
    for _ in range(ARGS.repeats):
        base.encoder_s = 0.0
        sync()
        t0 = time.perf_counter()
        for text in texts:
            base.predict(text)
        sync()
        passes.append(time.perf_counter() - t0)
        encs.append(base.encoder_s / len(texts))
    infer_s = statistics.median(passes)
    n = sum(len(b) for b in steps)
    return {"train_docs_per_s": n / train_s, "train_tokens_per_s": sum(len(r.text) for b in steps for r in b) / train_s, "infer_docs_per_s": len(texts) / infer_s, "infer_chars_per_s": sum(map(len, texts)) / infer_s, "infer_pass_s": passes, "encoder_ms_per_doc": 1000 * statistics.median(encs)}


def main():
    if ARGS.gpu_id >= 0:
        spacy.require_gpu(ARGS.gpu_id)
    records = list(cluener.read_cluener(ARGS.dev))
    tmp = None
    trf_path = ARGS.transformer
    if "trf" in ARGS.setups and trf_path is None:
        from spacy_globalpointer.tiny_bert import build_tiny_bert

        tmp = tempfile.TemporaryDirectory()
        trf_path = str(build_tiny_bert(Path(tmp.name) / "tiny_bert", [r.text for r in records], hidden_size=128, layers=2, heads=2))
    env = {
        "machine": f"{os.cpu_count()} CPU cores" + (f", {torch.cuda.get_device_name(DEVICE)}" if DEVICE.type == "cuda" else ""),
        "torch_threads": torch.get_num_threads(),
        "omp_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "versions": {"torch": torch.__version__, "spacy": spacy.__version__, "thinc": thinc.__version__, "spacy_globalpointer": spacy_globalpointer.__version__, "python": sys.version.split()[0]},
        "transformer": trf_path if "trf" in ARGS.setups and ARGS.transformer else ("tiny random BERT (hidden 128, 2 layers)" if "trf" in ARGS.setups else None),
        "device": str(DEVICE),
    }
    results = {"env": env, "setups": {}}
    for setup in ARGS.setups.split(","):
        msg.info(f"[{setup}] ours ...")
        ours, nlp = bench_ours(setup, trf_path, records)
        msg.info(f"[{setup}] baseline (pad to {ARGS.pad_to}, dense gold, one text at a time) ...")
        base = bench_baseline(setup, trf_path, records, nlp)
        ours["infer_all_dev_docs_per_s"] = {}
        if DEVICE.type == "cpu" and setup == "cpu":
            # All of dev (forking workers costs a moment): one process with
            # the torch threads, then forked workers with one torch thread each.
            texts = [r.text for r in records]
            for n_process in (1, 2):
                t0 = time.perf_counter()
                list(nlp.pipe(texts, n_process=n_process))
                ours["infer_all_dev_docs_per_s"][n_process] = len(texts) / (time.perf_counter() - t0)
        ratios = {
            "train_docs_per_s": ours["train_docs_per_s"] / base["train_docs_per_s"],
            "infer_docs_per_s": ours["infer_docs_per_s"] / base["infer_docs_per_s"],
            # Both sides' encoder time per doc at inference: the padding to
            # pad_to is most of the difference, and it bounds the total ratio.
            "encoder_per_doc": base["encoder_ms_per_doc"] / ours["encoder_ms_per_doc"],
        }
        results["setups"][setup] = {"ours": ours, "baseline": base, "ratio": ratios}
        rows = [
            ("train docs/s", f"{ours['train_docs_per_s']:.1f}", f"{base['train_docs_per_s']:.1f}", f"{ratios['train_docs_per_s']:.1f}x"),
            ("train tokens/s", f"{ours['train_tokens_per_s']:.0f}", f"{base['train_tokens_per_s']:.0f}", ""),
            ("inference docs/s", f"{ours['infer_docs_per_s']:.1f}", f"{base['infer_docs_per_s']:.1f}", f"{ratios['infer_docs_per_s']:.1f}x"),
            ("inference chars/s", f"{ours['infer_chars_per_s']:.0f}", f"{base['infer_chars_per_s']:.0f}", ""),
            ("inference: encoder ms/doc", f"{ours['encoder_ms_per_doc']:.2f}", f"{base['encoder_ms_per_doc']:.2f}", f"{ratios['encoder_per_doc']:.1f}x"),
            ("head share of inference", f"{100 * ours['head_share_of_inference']:.1f}%", "", ""),
        ]
        for n_process, rate in ours["infer_all_dev_docs_per_s"].items():
            rows.append((f"all dev docs/s, n_process={n_process}", f"{rate:.1f}", "", ""))
        msg.table(rows, header=(setup, "ours", "baseline", "ours/baseline"), divider=True, aligns=("l", "r", "r", "r"))
    env["peak_rss_mb"] = peak_rss_mb()
    msg.table(
        [("machine", env["machine"]), ("device", env["device"]), ("torch threads", env["torch_threads"]), ("OMP threads", env["omp_threads"]), ("peak RSS (MB)", f"{env['peak_rss_mb']:.0f}"), ("transformer", env["transformer"])] + [(k, v) for k, v in env["versions"].items()],
        header=("environment", ""), divider=True,
    )
    write_results(ARGS.out, results)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
