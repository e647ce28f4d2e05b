"""What the GPU tests (tests/test_gpu.py) and the GPU timings (benchmarks/gpu_check.py) both run on:
the first docs of CLUENER train and dev as DocBins, a small random BERT written from their characters
(helpers/tiny_bert.py: torch alone, so the same weights whatever the transformers version), the two
transformer configs filled with it, and a pipeline of each trained a little. Nothing is downloaded."""

import json
from pathlib import Path
from typing import Any, Dict, List

import spacy

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"trf": "cluener_trf", "curated": "cluener_curated"}


class TransformerSlice:
    """``train_limit`` and ``dev_limit`` docs of CLUENER (``data``), a random BERT of ``bert_hidden``
    (2 layers) and the DocBins, in ``work``; ``gpu``: configs with mixed precision and the PyTorch
    allocator (spacy-transformers' gradient scaler needs CUDA)."""

    def __init__(self, data: Path, work: Path, train_limit: int, dev_limit: int, bert_hidden: int, gpu: bool):
        from helpers.tiny_bert import write_tiny_bert_checkpoint

        self.data, self.work, self.gpu = Path(data), Path(work), gpu
        self.train_records = self.records("train", train_limit)
        self.dev_records = self.records("dev", dev_limit)
        texts = [r.text for r in self.train_records + self.dev_records]
        self.bert = write_tiny_bert_checkpoint(work / "bert", texts, hidden_size=bert_hidden, layers=2)
        self.corpus = {
            "train": self.docbin("train", self.train_records),
            "dev": self.docbin("dev", self.dev_records),
        }

    def records(self, split: str, limit: int) -> List[Any]:
        from spacy_globalpointer.training.converters import cluener

        records = []
        for record in cluener.read_cluener(self.data / f"{split}.json"):
            if len(records) == limit:
                break
            records.append(record)
        return records

    def docbin(self, split: str, records) -> Path:
        from spacy.tokens import DocBin

        from spacy_globalpointer.training.convert import gold_docs, make_tokenizer

        path = self.work / f"{split}.spacy"
        DocBin(docs=gold_docs(make_tokenizer("zh"), records), store_user_data=True).to_disk(path)
        return path

    def config(self, name: str):
        """The config of a transformer path with the random BERT, uninterpolated."""
        from thinc.api import Config

        config = Config().from_disk(ROOT / "configs" / f"{name}.cfg", interpolate=False)
        if name == "cluener_curated":
            from spacy_globalpointer.transformers.fill_curated_config import fill_curated_config

            config = fill_curated_config(config, self.bert)
        else:
            config["components"]["transformer"]["model"]["name"] = str(self.bert)
        config["components"]["transformer"]["model"]["mixed_precision"] = self.gpu
        config["components"]["globalpointer_ner"]["model"]["mixed_precision"] = self.gpu
        config["system"]["gpu_allocator"] = "pytorch" if self.gpu else None
        return config

    def training_config(self, name: str, steps: int, seed: int, steps_log: Path) -> Path:
        """``name``'s config for ``steps`` updates logged one by one (helpers/step_logger.py), written."""
        config = self.config(name)
        training = config["training"]
        training["logger"] = {"@loggers": "spacy_globalpointer.StepLogger.v1", "path": str(steps_log)}
        training.update(max_steps=steps, max_epochs=0, eval_frequency=max(steps // 2, 1))
        # A random BERT learns nothing in a few hundred steps at the recipe's 2e-5.
        training["optimizer"]["learn_rate"] = 2e-3
        config["system"]["seed"] = seed
        path = self.work / f"{name}.cfg"
        config.to_disk(path, interpolate=False)
        return path

    def train_command(self, config: Path, output: Path, gpu_id: int) -> List[str]:
        return [
            "-m", "spacy", "train", str(config), "--output", str(output), "--gpu-id", str(gpu_id),
            "--code", str(ROOT / "helpers" / "step_logger.py"), "--paths.train", str(self.corpus["train"]),
            "--paths.dev", str(self.corpus["dev"]), "--paths.labels", str(self.work / "no_labels"),
        ]  # fmt: skip

    def trained_pipeline(self, name: str, docs: int = 64):
        """The path's pipeline, initialized on the dev slice and updated a few times."""
        from spacy.tokens import DocBin
        from spacy.training import Example
        from thinc.api import fix_random_seed

        fix_random_seed(0)
        nlp = spacy.util.load_model_from_config(self.config(name), auto_fill=True)
        gold = list(DocBin().from_disk(self.corpus["dev"]).get_docs(nlp.vocab))
        examples = [Example(nlp.make_doc(d.text), d) for d in gold[:docs]]
        optimizer = nlp.initialize(get_examples=lambda: examples)
        for i in range(0, len(examples), 16):
            nlp.update(examples[i : i + 16], sgd=optimizer)
        return nlp

    def long_text(self, chars: int) -> str:
        texts = [r.text for r in self.dev_records]
        return ("".join(texts) * (chars // max(sum(map(len, texts)), 1) + 1))[:chars]

    def write_corpus(self, path: Path, n_docs: int) -> Path:
        with path.open("w", encoding="utf8") as f:
            for i, record in enumerate(self.dev_records[:n_docs]):
                f.write(json.dumps({"id": i, "text": record.text}, ensure_ascii=False) + "\n")
        return path


def step_losses(steps_log: Path) -> Dict[str, list]:
    """The per-update losses and the evaluations of a StepLogger's file."""
    lines = [json.loads(line) for line in steps_log.read_text().splitlines()]
    return {
        "updates": [line["losses"] for line in lines if "losses" in line],
        "evals": [line["eval"] for line in lines if "eval" in line],
    }
