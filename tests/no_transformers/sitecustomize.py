"""Put this folder first on PYTHONPATH and the Python started is one where `transformers` is not
installed: it cannot be imported, and neither can spacy-transformers, whose distribution (entry points
included) is not seen either. spacy-transformers goes too because spaCy imports every package's
factories when it makes a pipeline, and an environment without transformers has no spacy-transformers.
The test of the curated path (tests/test_curated.py) runs its tests in such a process.
"""

import importlib.abc
import importlib.machinery
import sys

MODULES = {"transformers", "spacy_transformers"}
DISTRIBUTIONS = {"transformers", "spacy-transformers"}


class HideTransformers(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in MODULES:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by {__file__})", name=name)
        return None


def visible(dist) -> bool:
    return (dist.metadata["Name"] or "").lower().replace("_", "-") not in DISTRIBUTIONS


find_distributions = importlib.machinery.PathFinder.find_distributions
importlib.machinery.PathFinder.find_distributions = classmethod(
    lambda cls, *args, **kwargs: filter(visible, find_distributions(*args, **kwargs))
)
sys.meta_path.insert(0, HideTransformers())
