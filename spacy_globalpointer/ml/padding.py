"""A batch's token vectors as one padded array for a torch head, and back."""

from typing import List

from thinc.types import Floats2d, Floats3d


def pad(ops, X: List[Floats2d], width: int) -> Floats3d:
    """Batch-first, padded to the longest doc (thinc's Padded is time-major
    and length-sorted, the heads want neither). By hand rather than ops.pad:
    an empty doc may come as a (0, 0) array."""
    padded = ops.alloc3f(len(X), max((len(x) for x in X), default=0), width)
    for i, x in enumerate(X):
        if len(x):
            padded[i, : len(x)] = x
    return padded


def unpad(ops, dX: Floats3d, X: List[Floats2d]) -> List[Floats2d]:
    """The gradient of :func:`pad`: each doc's rows of dX."""
    return [dX[i, : len(x)] if len(x) else ops.alloc2f(*x.shape) for i, x in enumerate(X)]
