"""Training and inference throughput on CLUENER dev: globalpointer_ner vs a
plain PyTorch loop written the way the common GlobalPointer scripts are.

    python benchmarks/bench_speed.py                       # CPU config + a tiny random BERT
    python benchmarks/bench_speed.py --transformer PATH    # any local Hugging Face folder
    python benchmarks/bench_speed.py --threads 1 --gpu-id 0
    python benchmarks/bench_speed.py --setups cpu --model training/cluener_cpu/model-calibrated
    python benchmarks/bench_speed.py --setups curated      # spacy-curated-transformers, same BERT

Both sides use the same encoder (the pipeline's own tok2vec, or the same
transformer weights) and the same head class, loss and thread count; ratios
are measured in the same run: training and inference are timed in --rounds
rounds that alternate the two sides (so both meet the same fast and slow
phases of a noisy machine), and medians are reported with the spread of the
per-round ratios. The baseline predicts with the weights ours ended training
with (or, with --model, the trained pipeline's), so both find the same
spans. The encoder's time per doc is
reported apart, since the padding it pays for bounds the baseline. Prints
tables and writes JSON (--out).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy
import spacy
import thinc
import torch
from spacy.training import Example
from thinc.api import Config, fix_random_seed, torch2xp, xp2torch
from wasabi import msg

import spacy_globalpointer
from spacy_globalpointer.ml.pytorch.heads import build_head
from spacy_globalpointer.training.convert import gold_docs, make_tokenizer
from spacy_globalpointer.training.converters import cluener

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # helpers/ (tiny BERT, reference loss)
sys.path.insert(0, str(ROOT / "benchmarks"))  # common.py

from common import peak_rss_mb, write_results  # noqa: E402

from helpers.reference_loss import multilabel_categorical_crossentropy  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--dev",
        default=str(ROOT.parent / "shared" / "data" / "cluener" / "dev.json"),
        help="CLUENER dev.json",
    )
    p.add_argument(
        "--transformer", default=None, help="local HF model folder (default: build a tiny random BERT)"
    )
    p.add_argument(
        "--setups",
        default="cpu,trf",
        help="comma-separated: cpu (CPU tok2vec config), trf (spacy-transformers), curated"
        " (spacy-curated-transformers, its config filled from the --transformer folder)",
    )
    p.add_argument(
        "--config", default=str(ROOT / "configs" / "cluener_cpu.cfg"), help="the CPU setup's config"
    )
    p.add_argument(
        "--no-speed-settings",
        dest="speed_settings",
        action="store_false",
        help="skip the speed settings on/off",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="timed rounds; each alternates ours and the baseline, and medians are reported",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a pipeline trained with --config: both sides predict with its weights (and ours with its"
        " calibrated thresholds) instead of those of the few timed training steps",
    )
    p.add_argument("--n-docs", type=int, default=512, help="docs per inference round (ours)")
    p.add_argument(
        "--baseline-docs",
        type=int,
        default=96,
        help="docs per inference round, predicted one at a time (baseline)",
    )
    p.add_argument("--batch-size", type=int, default=16, help="training batch size, both sides")
    p.add_argument("--train-steps", type=int, default=4, help="training steps per round (ours)")
    p.add_argument("--baseline-train-steps", type=int, default=1, help="training steps per round (baseline)")
    p.add_argument("--pad-to", type=int, default=256, help="baseline padding length")
    p.add_argument("--threads", type=int, default=None, help="pin torch/BLAS/OpenMP threads")
    p.add_argument("--gpu-id", type=int, default=-1, help="GPU id, -1 for CPU")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speed.json"), help="JSON output")
    return p.parse_args(argv)


@dataclass
class Bench:
    """One run's settings and device, handed to each side."""

    args: argparse.Namespace
    device: torch.device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def load_nlp(bench: Bench, setup: str, trf_path: str, overrides=None):
    if setup == "cpu":
        config = Config().from_disk(bench.args.config, overrides=overrides or {})
    else:
        overrides = {} if setup == "curated" else {"components.transformer.model.name": trf_path}
        if bench.device.type == "cpu":
            overrides.update(
                {
                    "system.gpu_allocator": None,
                    "components.transformer.model.mixed_precision": False,
                    "components.globalpointer_ner.model.mixed_precision": False,
                }
            )
        if setup == "curated":
            from spacy_globalpointer.transformers.fill_curated_config import fill_curated_config

            raw = Config().from_disk(ROOT / "configs" / "cluener_curated.cfg", interpolate=False)
            config = Config().from_str(fill_curated_config(raw, trf_path).to_str(), overrides=overrides)
        else:
            config = Config().from_disk(ROOT / "configs" / "cluener_trf.cfg", overrides=overrides)
    return spacy.util.load_model_from_config(config, auto_fill=True)


def time_calls(bench: Bench, owner, name: str, bucket) -> None:
    """The timing hook: ``owner.name`` (a method or a layer's function of an object this benchmark
    made) adds the seconds of each call to ``bucket[0]``. Set on that one object, never on a module."""
    fn = getattr(owner, name)

    def timed(*args, **kwargs):
        bench.sync()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        bench.sync()
        bucket[0] += time.perf_counter() - t0
        return out

    setattr(owner, name, timed)


class Ours:
    """Our pipeline, trained from a fresh start; at inference the head (scores
    + decode) and the encoder are timed apart. At prediction the model's
    chunks are computed as the component's predict decodes them, so the
    encoder runs inside it: the head's time is predict's minus the encoder's
    (a transformer runs before, in its own component)."""

    def __init__(self, bench: Bench, setup, trf_path, records, overrides=None):
        fix_random_seed(0)
        self.bench, self.setup = bench, setup
        self.nlp = nlp = load_nlp(bench, setup, trf_path, overrides)
        docs = list(gold_docs(make_tokenizer("zh"), records))
        examples = [Example(nlp.make_doc(d.text), d) for d in docs]
        for label in cluener.CLUENER_LABELS:
            nlp.get_pipe("globalpointer_ner").add_label(label)
        self.optimizer = nlp.initialize(get_examples=lambda: examples[:32])
        B = bench.args.batch_size
        self.batches = iter([examples[i : i + B] for i in range(0, len(examples), B)])
        self.train(2)  # warm-up
        self.head_s, self.encoder_s = [0.0], [0.0]
        self.time_parts()

    def time_parts(self):
        gp = self.nlp.get_pipe("globalpointer_ner")
        time_calls(self.bench, gp, "predict", self.head_s)
        if self.setup == "cpu":
            time_calls(self.bench, gp.model.get_ref("tok2vec"), "_func", self.encoder_s)
        else:
            time_calls(self.bench, self.nlp.get_pipe("transformer"), "predict", self.encoder_s)

    def load_trained(self, path):
        """Predict with a trained pipeline from here on (training is done)."""
        self.nlp = spacy.load(path)
        self.time_parts()

    def train(self, n_steps):
        """n_steps updates; returns (docs, tokens) seen."""
        n_docs = n_tokens = 0
        for _ in range(n_steps):
            batch = next(self.batches)
            self.nlp.update(batch, sgd=self.optimizer)
            n_docs, n_tokens = n_docs + len(batch), n_tokens + sum(len(eg.predicted) for eg in batch)
        return n_docs, n_tokens

    def infer(self, texts):
        """One nlp.pipe pass at the pipeline's own batch size ([nlp] batch_size);
        returns the seconds spent in the encoder and in the head."""
        self.head_s[0] = self.encoder_s[0] = 0.0
        list(self.nlp.pipe(texts))
        inside = self.encoder_s[0] if self.setup == "cpu" else 0.0
        return {"encoder": self.encoder_s[0], "head": self.head_s[0] - inside}


def interleaved(bench: Bench, rounds, sides):
    """Call each side's function once per round, in turn: alternating puts
    both sides through the same fast and slow phases of a noisy machine.
    Returns, per side, the (seconds, result) of every round."""
    out = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            bench.sync()
            t0 = time.perf_counter()
            result = fn()
            bench.sync()
            out[name].append((time.perf_counter() - t0, result))
    return out


class Baseline:
    """The common scripts' way: every text padded to `pad_to`, a dense
    labels x pad_to x pad_to gold tensor per example built on the CPU,
    full-square scores, one text at a time at prediction, Python loops over
    the positive cells. Same encoder weights' architecture, same head, same loss."""

    def __init__(self, bench: Bench, setup, trf_path, records):
        self.bench, self.setup, self.L, self.C = bench, setup, bench.args.pad_to, len(cluener.CLUENER_LABELS)
        device = bench.device
        self.labels = {label: i for i, label in enumerate(cluener.CLUENER_LABELS)}
        if setup == "cpu":
            fix_random_seed(0)
            fresh = load_nlp(bench, "cpu", trf_path)
            self.tok2vec = fresh.get_pipe("globalpointer_ner").model.get_ref("tok2vec")
            self.vocab = fresh.vocab
            self.tok2vec.initialize()
            self.optimizer = thinc.api.Adam(0.001)
            width = self.tok2vec.get_dim("nO")
        else:
            from transformers import AutoModel, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(trf_path)
            self.bert = AutoModel.from_pretrained(trf_path).to(device)
            width = self.bert.config.hidden_size
        # The CPU config's GlobalPointer.v3 has the span content term: built alike, so ours' weights load
        # (full_scores, the scripts' way, leaves the term out).
        span_content = setup == "cpu" and bool(
            fresh.config["components"]["globalpointer_ner"]["model"].get("span_content")
        )
        self.head = build_head(
            "GlobalPointer" if setup == "cpu" else "EfficientGlobalPointer",
            width,
            self.C,
            64,
            True,
            span_content,
        ).to(device)
        params = list(self.head.parameters()) + (list(self.bert.parameters()) if setup != "cpu" else [])
        self.encoder_s = 0.0
        self.torch_opt = torch.optim.AdamW(params, lr=2e-5 if setup != "cpu" else 1e-3)
        B = bench.args.batch_size
        self.batches = iter([records[i : i + B] for i in range(0, len(records), B)])
        self.train(1)  # warm-up

    def train(self, n_steps):
        """n_steps updates; returns (docs, characters) seen."""
        n_docs = n_chars = 0
        for _ in range(n_steps):
            batch = next(self.batches)
            self.train_step(batch)
            n_docs, n_chars = n_docs + len(batch), n_chars + sum(len(r.text) for r in batch)
        return n_docs, n_chars

    def infer(self, texts):
        """Predict the texts one at a time; returns the seconds spent in the encoder."""
        self.encoder_s = 0.0
        for text in texts:
            self.predict(text)
        return {"encoder": self.encoder_s}

    def encode(self, texts, is_train):
        """(B, L, H) token vectors of texts padded to L, their lengths, and a backward hook."""
        lengths = torch.tensor([min(len(t), self.L) for t in texts], device=self.bench.device)
        if self.setup == "cpu":
            from spacy.tokens import Doc

            docs = [
                Doc(
                    self.vocab,
                    words=list(t[: self.L]) + ["[PAD]"] * (self.L - min(len(t), self.L)),
                    spaces=[False] * self.L,
                )
                for t in texts
            ]
            Y, backprop = self.tok2vec(docs, is_train)
            X = xp2torch(self.tok2vec.ops.xp.stack(Y), requires_grad=is_train)

            def backward():
                backprop(list(torch2xp(X.grad)))
                self.tok2vec.finish_update(self.optimizer)

            return X, lengths, backward
        enc = self.tokenizer(
            texts, padding="max_length", max_length=self.L, truncation=True, return_tensors="pt"
        ).to(self.bench.device)
        X = self.bert(**enc).last_hidden_state
        return X, enc["attention_mask"].sum(1), lambda: None

    def gold(self, records):
        y = torch.zeros(len(records), self.C, self.L, self.L)
        offset = 0 if self.setup == "cpu" else 1  # [CLS]
        for b, r in enumerate(records):
            for ent in r.mentions:
                if ent.end - 1 + offset < self.L:
                    y[b, self.labels[ent.label], ent.start + offset, ent.end - 1 + offset] = 1
        return y.to(self.bench.device)

    def full_scores(self, X, lengths):
        """(B, C, L, L) scores as the scripts compute them: one einsum over all
        (start, end) pairs, then padding and start > end masked out."""
        q, k, start_bias, end_bias = self.head.project(X)  # RoPE and 1/sqrt(d) included
        scores = q @ k.transpose(-1, -2)
        if start_bias is not None:
            scores = scores + start_bias[..., :, None] + end_bias[..., None, :]
        pos = torch.arange(self.L, device=self.bench.device)
        pad = (pos[None, :] < lengths[:, None])[:, None]
        mask = pad[..., :, None] & pad[..., None, :] & (pos[:, None] <= pos[None, :])
        return scores.masked_fill(~mask, -1e12), mask

    def train_step(self, records):
        X, lengths, backward = self.encode([r.text for r in records], True)
        scores, mask = self.full_scores(X, lengths)
        y = self.gold(records)
        n = len(records) * self.C
        mask = mask.expand_as(scores)
        loss = multilabel_categorical_crossentropy(
            scores.reshape(n, -1), y.bool().reshape(n, -1), mask.reshape(n, -1)
        ).mean()
        self.torch_opt.zero_grad()
        loss.backward()
        backward()
        self.torch_opt.step()

    def load_weights_from(self, nlp):
        """Take the encoder and head weights of our trained pipeline."""
        gp = nlp.get_pipe("globalpointer_ner")
        self.head.load_state_dict(gp.model.get_ref("scorer").shims[0].module.state_dict())
        if self.setup == "cpu":
            self.tok2vec.from_bytes(gp.model.get_ref("tok2vec").to_bytes())
        elif self.setup == "trf":
            self.bert.load_state_dict(
                nlp.get_pipe("transformer").model.layers[0].shims[0]._model.state_dict()
            )
        # curated: its encoder's parameters have other names; the baseline keeps the folder's weights.

    @torch.no_grad()
    def predict(self, text):
        self.bench.sync()
        t0 = time.perf_counter()
        X, lengths, _ = self.encode([text], False)
        self.bench.sync()
        self.encoder_s += time.perf_counter() - t0
        scores = self.full_scores(X, lengths)[0][0].cpu().numpy()
        out = {}
        for c, i, j in zip(*numpy.where(scores > 0)):
            out.setdefault(cluener.CLUENER_LABELS[c], []).append((int(i), int(j)))
        return out


def speed_settings(bench: Bench, records):
    """The speed settings that reach beyond one doc, each on and off in
    alternating rounds: torch_gemm (the model's own thinc layers multiply
    with torch; scoped to the model) and the opt-in cached msgpack lookup
    (process-wide; pays off when nlp.pipe(n_process=N) ships docs back)."""
    from spacy_globalpointer.training.msgpack_cache import _msgpack_registries, make_cached_msgpack_lookup

    msg.info("[cpu] speed settings: torch_gemm on/off, cached msgpack lookup on/off ...")
    off = "components.globalpointer_ner.model.torch_gemm"
    on_, off_ = Ours(bench, "cpu", None, records), Ours(bench, "cpu", None, records, {off: False})
    args = bench.args
    texts = [r.text for r in records[: args.n_docs]]
    train = interleaved(
        bench,
        args.rounds,
        {"on": lambda: on_.train(args.train_steps), "off": lambda: off_.train(args.train_steps)},
    )
    infer = interleaved(
        bench, args.rounds, {"on": lambda: on_.infer(texts), "off": lambda: off_.infer(texts)}
    )
    out = {}
    for side in ("on", "off"):
        out[f"torch_gemm_{side}"] = {
            "train_docs_per_s": statistics.median(n / s for s, (n, _) in train[side]),
            "infer_docs_per_s": statistics.median(len(texts) / s for s, _ in infer[side]),
        }
    all_texts = [r.text for r in records]
    rates = {"cache off": [], "cache on": []}
    for _ in range(2):
        for name in rates:
            if name == "cache on":
                make_cached_msgpack_lookup()(on_.nlp)
            t0 = time.perf_counter()
            list(on_.nlp.pipe(all_texts, n_process=2))
            rates[name].append(len(all_texts) / (time.perf_counter() - t0))
            for reg in _msgpack_registries():
                vars(reg).pop("get_all", None)  # back to srsly's own lookup
    out["n_process_2_docs_per_s"] = {name: statistics.median(v) for name, v in rates.items()}
    gemm_on, gemm_off = out["torch_gemm_on"], out["torch_gemm_off"]
    rows = [
        ("train docs/s", f"{gemm_on['train_docs_per_s']:.1f}", f"{gemm_off['train_docs_per_s']:.1f}",
         f"{gemm_on['train_docs_per_s'] / gemm_off['train_docs_per_s']:.2f}x"),
        ("inference docs/s", f"{gemm_on['infer_docs_per_s']:.1f}", f"{gemm_off['infer_docs_per_s']:.1f}",
         f"{gemm_on['infer_docs_per_s'] / gemm_off['infer_docs_per_s']:.2f}x"),
    ]  # fmt: skip
    msg.table(
        rows, header=("torch_gemm (scoped)", "on", "off", "on/off"), divider=True, aligns=("l", "r", "r", "r")
    )
    cache = out["n_process_2_docs_per_s"]
    rows = [("all dev docs/s, n_process=2", f"{cache['cache on']:.1f}", f"{cache['cache off']:.1f}",
             f"{cache['cache on'] / cache['cache off']:.2f}x")]  # fmt: skip
    msg.table(
        rows,
        header=("cached msgpack (opt-in)", "on", "off", "on/off"),
        divider=True,
        aligns=("l", "r", "r", "r"),
    )
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        # torch's own pool now; the variables for the processes and libraries that start after this.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        torch.set_num_threads(args.threads)
    bench = Bench(args, torch.device(f"cuda:{args.gpu_id}" if args.gpu_id >= 0 else "cpu"))
    if args.gpu_id >= 0:
        spacy.require_gpu(args.gpu_id)
    records = list(cluener.read_cluener(args.dev))
    tmp = None
    trf_path = args.transformer
    transformer_setups = [s for s in args.setups.split(",") if s != "cpu"]
    if transformer_setups and trf_path is None:
        from helpers.tiny_bert import build_tiny_bert

        tmp = tempfile.TemporaryDirectory()
        trf_path = str(
            build_tiny_bert(
                Path(tmp.name) / "tiny_bert", [r.text for r in records], hidden_size=128, layers=2, heads=2
            )
        )
    env = {
        "machine": f"{os.cpu_count()} CPU cores"
        + (f", {torch.cuda.get_device_name(bench.device)}" if bench.device.type == "cuda" else ""),
        "torch_threads": torch.get_num_threads(),
        "omp_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "versions": {
            "torch": torch.__version__,
            "spacy": spacy.__version__,
            "thinc": thinc.__version__,
            "spacy_globalpointer": spacy_globalpointer.__version__,
            "python": sys.version.split()[0],
        },
        "transformer": trf_path
        if transformer_setups and args.transformer
        else ("tiny random BERT (hidden 128, 2 layers)" if transformer_setups else None),
        "device": str(bench.device),
        "rounds": args.rounds,
        "model": args.model,
    }
    results = {"env": env, "setups": {}}
    for setup in args.setups.split(","):
        msg.info(
            f"[{setup}] building ours and the baseline"
            f" (pad to {args.pad_to}, dense gold, one text at a time) ..."
        )
        ours, base = Ours(bench, setup, trf_path, records), Baseline(bench, setup, trf_path, records)
        msg.info(
            f"[{setup}] training, {args.rounds} rounds of {args.train_steps} steps (ours)"
            f" and {args.baseline_train_steps} (baseline) ..."
        )
        train = interleaved(
            bench,
            args.rounds,
            {
                "ours": lambda: ours.train(args.train_steps),
                "baseline": lambda: base.train(args.baseline_train_steps),
            },
        )
        # The baseline predicts with the weights ours ended with, so both sides
        # find the same (few) spans: the scripts' Python loop over positive
        # cells then costs what it costs on a trained model.
        if args.model and setup == "cpu":
            ours.load_trained(args.model)
        base.load_weights_from(ours.nlp)
        texts = [r.text for r in records[: args.n_docs]]
        base_texts = texts[: args.baseline_docs]
        ours.infer(texts[:64])  # warm-up
        base.infer(base_texts[:4])
        msg.info(
            f"[{setup}] inference, {args.rounds} rounds of {len(texts)} docs (ours)"
            f" and {len(base_texts)} (baseline) ..."
        )
        infer = interleaved(
            bench,
            args.rounds,
            {"ours": lambda: ours.infer(texts), "baseline": lambda: base.infer(base_texts)},
        )
        row = {}
        for side, n_texts in (("ours", len(texts)), ("baseline", len(base_texts))):
            n_chars = sum(map(len, texts[:n_texts]))
            train_rates = [(n / s, t / s) for s, (n, t) in train[side]]
            row[side] = {
                "train_docs_per_s": statistics.median(r[0] for r in train_rates),
                "train_tokens_per_s": statistics.median(r[1] for r in train_rates),
                "infer_docs_per_s": statistics.median(n_texts / s for s, _ in infer[side]),
                "infer_chars_per_s": statistics.median(n_chars / s for s, _ in infer[side]),
                "encoder_ms_per_doc": 1000
                * statistics.median(r["encoder"] / n_texts for _, r in infer[side]),
                "train_round_s": [s for s, _ in train[side]],
                "infer_round_s": [s for s, _ in infer[side]],
            }
        row["ours"]["head_share_of_inference"] = statistics.median(r["head"] / s for s, r in infer["ours"])
        row["ours"]["infer_all_dev_docs_per_s"] = {}
        if bench.device.type == "cpu" and setup == "cpu":
            # All of dev (forking workers costs a moment): one process with
            # the torch threads, then forked workers with one torch thread each.
            all_texts = [r.text for r in records]
            for n_process in (1, 2):
                t0 = time.perf_counter()
                list(ours.nlp.pipe(all_texts, n_process=n_process))
                row["ours"]["infer_all_dev_docs_per_s"][n_process] = len(all_texts) / (
                    time.perf_counter() - t0
                )
        o, b = row["ours"], row["baseline"]
        # Ratios of the medians, and the spread of the per-round ratios.
        per_round = {
            "train_docs_per_s": [
                (len_o / so) / (len_b / sb)
                for (so, (len_o, _)), (sb, (len_b, _)) in zip(train["ours"], train["baseline"])
            ],
            "infer_docs_per_s": [
                (len(texts) / so) / (len(base_texts) / sb)
                for (so, _), (sb, _) in zip(infer["ours"], infer["baseline"])
            ],
        }
        ratios = {
            "train_docs_per_s": o["train_docs_per_s"] / b["train_docs_per_s"],
            "infer_docs_per_s": o["infer_docs_per_s"] / b["infer_docs_per_s"],
            # Both sides' encoder time per doc at inference: the padding to
            # pad_to is most of the difference, and it bounds the total ratio.
            "encoder_per_doc": b["encoder_ms_per_doc"] / o["encoder_ms_per_doc"],
            "per_round": per_round,
        }
        results["setups"][setup] = {"ours": o, "baseline": b, "ratio": ratios}
        spread = {k: f"{min(v):.1f}-{max(v):.1f}x" for k, v in per_round.items()}
        rows = [
            (
                "train docs/s",
                f"{o['train_docs_per_s']:.1f}",
                f"{b['train_docs_per_s']:.1f}",
                f"{ratios['train_docs_per_s']:.1f}x",
                spread["train_docs_per_s"],
            ),
            ("train tokens/s", f"{o['train_tokens_per_s']:.0f}", f"{b['train_tokens_per_s']:.0f}", "", ""),
            (
                "inference docs/s",
                f"{o['infer_docs_per_s']:.1f}",
                f"{b['infer_docs_per_s']:.1f}",
                f"{ratios['infer_docs_per_s']:.1f}x",
                spread["infer_docs_per_s"],
            ),
            ("inference chars/s", f"{o['infer_chars_per_s']:.0f}", f"{b['infer_chars_per_s']:.0f}", "", ""),
            (
                "inference: encoder ms/doc",
                f"{o['encoder_ms_per_doc']:.2f}",
                f"{b['encoder_ms_per_doc']:.2f}",
                f"{ratios['encoder_per_doc']:.1f}x",
                "",
            ),
            ("head share of inference", f"{100 * o['head_share_of_inference']:.1f}%", "", "", ""),
        ]
        for n_process, rate in o["infer_all_dev_docs_per_s"].items():
            rows.append((f"all dev docs/s, n_process={n_process}", f"{rate:.1f}", "", "", ""))
        msg.table(
            rows,
            header=(setup, "ours", "baseline", "ours/baseline", "per round"),
            divider=True,
            aligns=("l", "r", "r", "r", "r"),
        )
    if "cpu" in args.setups.split(",") and bench.device.type == "cpu" and args.speed_settings:
        results["speed_settings"] = speed_settings(bench, records)
    env["peak_rss_mb"] = peak_rss_mb()
    msg.table(
        [
            ("machine", env["machine"]),
            ("device", env["device"]),
            ("torch threads", env["torch_threads"]),
            ("OMP threads", env["omp_threads"]),
            ("peak RSS (MB)", f"{env['peak_rss_mb']:.0f}"),
            ("transformer", env["transformer"]),
        ]
        + [(k, v) for k, v in env["versions"].items()],
        header=("environment", ""),
        divider=True,
    )
    write_results(args.out, results)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
