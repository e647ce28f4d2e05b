"""A spaCy training logger that writes each update's losses: spaCy's console
logger, plus one JSON line per update (each component's loss of that update)
and per evaluation in ``path``. spaCy logs the losses summed between
evaluations only, which hides a single non-finite update. Loaded with
``spacy train --code helpers/step_logger.py``."""

import json
import sys

import spacy


@spacy.registry.loggers("spacy_globalpointer.StepLogger.v1")
def step_logger(path: str):
    from spacy.training.loggers import console_logger  # spacy.ConsoleLogger.v3

    console = console_logger(progress_bar=False)

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        log_step, finalize = console(nlp, stdout, stderr)
        out = open(path, "w", encoding="utf8")
        update = nlp.update

        def logged_update(*args, **kwargs):
            losses = kwargs.get("losses")
            before = dict(losses or {})
            result = update(*args, **kwargs)
            step = {
                name: float(value) - float(before.get(name, 0.0)) for name, value in (losses or {}).items()
            }
            out.write(json.dumps({"losses": step}) + "\n")
            return result

        nlp.update = logged_update

        def log(info):
            log_step(info)
            if info is not None:
                scores = {k: info["other_scores"].get(k) for k in ("ents_f", "spans_sc_f")}
                out.write(json.dumps({"eval": {"step": info["step"], **scores}}) + "\n")
                out.flush()

        def finish():
            finalize()
            out.close()

        return log, finish

    return setup
