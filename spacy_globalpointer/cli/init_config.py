"""`spacy globalpointer init-config`."""

from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import Arg, Opt
from wasabi import msg

from spacy_globalpointer.cli.app import app, failing_on
from spacy_globalpointer.pipeline.keys import DEFAULT_SPANS_KEY


@app.command("init-config")
def init_config_cli(
    output: Path = Arg(..., help="The config to write (.cfg), or - for stdout"),
    lang: str = Opt(
        ..., "--lang", "-l", help="spaCy language code (zh: character tokens), e.g. en, de, zh, xx"
    ),
    gpu: bool = Opt(False, "--gpu", "-G", help="A transformer config (train it on a GPU)"),
    transformer: Optional[str] = Opt(
        None, "--transformer", help="--gpu: a Hugging Face name or a local folder (default: per language)"
    ),
    train: Optional[Path] = Opt(
        None,
        "--train",
        help="Training DocBin: labels, max_span_length and selection come from it",
        exists=True,
    ),
    dev: Optional[Path] = Opt(None, "--dev", help="Dev DocBin, written into [paths]"),
    spans_key: str = Opt(
        DEFAULT_SPANS_KEY, "--spans-key", help="doc.spans key of the gold and predicted spans"
    ),
    vectors: Optional[Path] = Opt(
        None,
        "--vectors",
        help="A spaCy vectors folder (`spacy init vectors`): the CPU tok2vec embeds its static vectors",
    ),
):
    """Write a complete, trainable config for a globalpointer_ner pipeline:
    for the CPU, spaCy's standard features for LANG (for zh, this package's
    CLUENER recipe: characters, bigrams, jieba words); with --gpu, a
    transformer (spaCy's quickstart default for LANG unless --transformer).
    With --train, the labels, max_span_length (the longest gold span in the
    pipeline's tokens) and the selection metric (spans_KEY_f when entities
    nest, ents_f when flat) come from the data; data with relations adds
    globalpointer_rel on the same tok2vec. With --vectors, the CPU tok2vec
    embeds pretrained word vectors (en_core_web_lg's, fastText's, ...) too.

    \b
    Examples:
      spacy globalpointer init-config config.cfg --lang en --train corpus/train.spacy
      spacy globalpointer init-config config.cfg --lang de --gpu --transformer ./my-bert
      spacy init vectors en cc.en.300.vec.gz ./vectors
      spacy globalpointer init-config config.cfg --lang en --train corpus/train.spacy --vectors ./vectors
    """
    from spacy_globalpointer.training.init_config import check_vectors, read_facts, render_config

    if transformer is not None and not gpu:
        raise typer.BadParameter("--transformer needs --gpu", param_hint="--transformer")
    with failing_on(ImportError, ValueError, OSError):
        vectors_path = str(check_vectors(vectors, lang, gpu)) if vectors is not None else None
        facts = read_facts(train, lang, spans_key) if train is not None else None
        text = render_config(
            lang,
            gpu=gpu,
            transformer=transformer,
            facts=facts,
            spans_key=spans_key,
            train_path=str(train) if train else None,
            dev_path=str(dev) if dev else None,
            output_name=str(output),
            vectors=vectors_path,
        )
    if str(output) == "-":
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf8")
    msg.good(f"Wrote {output} ({'GPU' if gpu else 'CPU'}, lang {lang})")
    if facts is not None:
        selection = f"spans_{spans_key}_f (entities nest)" if facts.nested else "ents_f (flat entities)"
        msg.info(
            f"From {train}: {facts.docs} docs, {facts.spans} spans, labels {facts.labels}, "
            f"max_span_length {facts.max_span_length}, selection on {selection}"
        )
    msg.text(f"Train: spacy train {output} --paths.train TRAIN.spacy --paths.dev DEV.spacy")
