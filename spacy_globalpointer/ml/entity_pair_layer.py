"""RelationPointer.v2's torch scorer (ml/pytorch/entity_pairs.py) as a thinc
layer, on the torch-layer machinery of torch_layer.py. Its input, in training
and at prediction alike, is an EntityPairsInput: a padded batch of vectors,
the candidate entities and the pairs to score."""

from dataclasses import dataclass
from typing import Callable, List, Tuple

import torch
from thinc.api import Model, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats3d, Ints2d

from spacy_globalpointer.ml.pytorch.entity_pairs import EntityPairScorer
from spacy_globalpointer.ml.torch_layer import torch_layer


@dataclass
class EntityPairsInput:
    """Vectors (B, L, nI) of the docs that have pairs, padded, and their
    lengths; the entities (E, 4): the doc (a row of ``vectors``), first token,
    end and label index; the pairs (P, 2): subject and object as rows of
    ``entities``."""

    vectors: Floats3d
    lengths: List[int]
    entities: Ints2d
    pairs: Ints2d

    def call(self, device: "torch.device", is_train: bool) -> Tuple[ArgsKwargs, Callable]:
        Xt = xp2torch(self.vectors, requires_grad=is_train, device=device)
        lengths = torch.tensor(self.lengths, dtype=torch.long, device=device)
        entities = xp2torch(self.entities, device=device).long()
        pairs = xp2torch(self.pairs, device=device).long()
        return ArgsKwargs(args=(Xt, lengths, entities, pairs), kwargs={}), lambda d_args: torch2xp(
            d_args.args[0]
        )


def entity_pair_layer(
    head: str,
    head_size: int,
    context: str,
    context_width: int,
    context_depth: int,
    between: bool,
    distance: bool,
    entity_types: bool,
    hidden_width: int,
    initial_bias: float,
    mixed_precision: bool,
    grad_scaler_config: dict,
) -> Model[EntityPairsInput, Floats3d]:
    """The torch scorer behind a TorchModuleShim, built at initialize, when the input width (nI), the
    relation label count (nO) and the entity label count (nE) are known."""
    attrs = {
        "head": head,
        "head_size": head_size,
        "context": context,
        "context_width": context_width,
        "context_depth": context_depth,
        "between": between,
        "distance": distance,
        "entity_types": entity_types,
        "hidden_width": hidden_width,
        "initial_bias": initial_bias,
    }
    return torch_layer(
        "globalpointer_entity_pairs",
        build_entity_pair_scorer,
        attrs,
        mixed_precision,
        grad_scaler_config,
        ("nE",),
    )


def build_entity_pair_scorer(model: Model) -> torch.nn.Module:
    return EntityPairScorer(
        model.attrs["head"],
        input_width=model.get_dim("nI"),
        n_labels=model.get_dim("nO"),
        n_entity_labels=model.get_dim("nE"),
        head_size=model.attrs["head_size"],
        context=model.attrs["context"],
        context_width=model.attrs["context_width"],
        context_depth=model.attrs["context_depth"],
        between=model.attrs["between"],
        distance=model.attrs["distance"],
        entity_types=model.attrs["entity_types"],
        hidden_width=model.attrs["hidden_width"],
        initial_bias=model.attrs["initial_bias"],
    )
