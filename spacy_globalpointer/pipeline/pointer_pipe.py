"""What the package's trainable components share: their settings (settings.py),
labels that cannot grow once the model is built, and the update step."""

import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.errors import Errors
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate

from spacy_globalpointer.pipeline.release_memory import release_freed_memory
from spacy_globalpointer.pipeline.settings import WithSettings


class PointerPipe(WithSettings, TrainablePipe):
    """A component whose model scores cells for its labels: the labels in
    ``cfg["labels"]``, and an update that runs the model, the component's
    ``get_loss``, the optimizer, and hands the step's freed memory back."""

    def __init__(
        self, vocab: Vocab, model: Model, name: str, *, scorer: Optional[Callable], **settings: Any
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": []}
        # Where the component was made: a forked worker of nlp.pipe(n_process=N) is another pid.
        self._pid = os.getpid()
        self._init_settings(settings)

    @property
    def labels(self) -> Tuple[str, ...]:
        """The labels currently added to the component."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """The labels, as `spacy init labels` writes them."""
        return list(self.labels)

    def add_label(self, label: str) -> int:
        """Add a label; 0 if it was there already, else 1. Labels cannot be
        added once the head is built (its size is the label count)."""
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        self._allow_extra_label()
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        del scores, backprop, d_scores
        release_freed_memory()
        losses[self.name] += loss
        return losses
