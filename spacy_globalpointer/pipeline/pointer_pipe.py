"""What the package's trainable components share: their settings (settings.py),
labels that cannot grow once the model is built, each label's threshold,
initialize (each component says where its gold labels are), the update step,
and the count of gold out of the model's reach."""

import os
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, set_dropout_rate

from spacy_globalpointer.pipeline.gold import OutOfReach
from spacy_globalpointer.pipeline.release_memory import release_freed_memory
from spacy_globalpointer.pipeline.settings import WithSettings

# Examples initialize builds the model on (spaCy's own components take a sample too).
SAMPLE_SIZE = 10


class PointerPipe(WithSettings, TrainablePipe):
    """A component whose model scores cells for its labels: the labels in
    ``cfg["labels"]``, a threshold per label (``threshold`` and
    ``label_thresholds``, declared by the subclass as Settings), and an update
    that runs the model, the component's ``get_loss``, the optimizer, and
    hands the step's freed memory back. A subclass says where its gold labels
    are (``_gold_labels``) and what it says when there are none (``_no_labels``)."""

    threshold: float
    label_thresholds: Mapping[str, float]

    def __init__(
        self, vocab: Vocab, model: Model, name: str, *, scorer: Optional[Callable], out_of_reach: OutOfReach
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": []}
        self._out_of_reach = out_of_reach
        # Where the component was made: a forked worker of nlp.pipe(n_process=N) is another pid.
        self._pid = os.getpid()

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

    def thresholds(self) -> List[float]:
        """Each label's threshold, in label order: its own in
        label_thresholds, else threshold. A label_thresholds key that names no
        label of the component is an error, not a threshold silently unused."""
        per_label = self.label_thresholds
        unknown = sorted(set(per_label) - set(self.labels))
        if unknown:
            raise ValueError(f"[{self.name}] label_thresholds names labels the component lacks: {unknown}.")
        return [per_label.get(label, self.threshold) for label in self.labels]

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Add labels (given, e.g. from `spacy init labels`, or read from the
        examples' gold) and build the model on a sample of the examples.
        With labels given, only the first examples are read."""
        method = f"{type(self).__name__}.initialize"
        if get_examples is None or not callable(get_examples):
            raise TypeError(Errors.E930.format(method=method, obj=type(get_examples)))
        if labels is not None:
            for label in labels:
                self.add_label(label)
            sample = list(islice(get_examples(), SAMPLE_SIZE))
        else:
            sample = []
            for eg in get_examples():
                for label in self._gold_labels(eg.reference):
                    self.add_label(label)
                if len(sample) < SAMPLE_SIZE:
                    sample.append(eg)
        # spaCy's validate_get_examples would read the whole corpus once more.
        validate_examples(sample, method)
        if not self.labels:
            raise ValueError(f"[{self.name}] {self._no_labels()}")
        self._check_sample(sample)
        if self.model.has_dim("nO") is not False:  # declared (set or not) by the model
            self.model.set_dim("nO", len(self.labels))
        self.model.initialize(X=self._model_input(sample, initializing=True) if sample else None)

    def _gold_labels(self, reference: Doc) -> Iterable[str]:
        """The labels of a gold doc's annotation, for initialize."""
        raise NotImplementedError

    def _no_labels(self) -> str:
        """What initialize says when neither the config nor the examples give a label."""
        raise NotImplementedError

    def _model_input(self, examples: List[Example], initializing: bool = False) -> Any:
        """What the model trains on (and is initialized with): the predicted docs, here."""
        return [eg.predicted for eg in examples]

    def _check_sample(self, sample: List[Example]) -> None:
        """What a component checks on the examples initialize builds the model on (nothing, here)."""

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
        scores, backprop = self.model.begin_update(self._model_input(examples))
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        del scores, backprop, d_scores
        release_freed_memory()
        losses[self.name] += loss
        return losses

    def _out_of_reach_gold(self, n: int, limit: Optional[int]) -> None:
        """Count gold that the setting ``limit`` (its current value) put out of the model's reach."""
        if n:
            self._out_of_reach.add(n, limit, self)
