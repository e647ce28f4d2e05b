"""srsly's msgpack extension lookups, cached.

srsly asks catalogue for its msgpack extensions on every (de)serialization, a
scan of the whole registry. Our readers cache that answer for their own reads;
``spacy_globalpointer.cached_msgpack_lookup.v1`` is the opt-in for the whole
process (``nlp.pipe(n_process=N)`` ships every doc back through msgpack).
"""

import contextlib
from typing import Callable, Dict, Iterator, Optional, Tuple

from spacy.util import registry


class _CachedLookup:
    """``get_all`` of one srsly msgpack registry, answered from a cache that
    is checked against catalogue on every call at the cost of a few dict
    lookups: a name added (the registry grows) or re-registered (another
    object under a cached name) recomputes it."""

    def __init__(self, registry_obj):
        import catalogue

        self.catalogue = catalogue
        self.lookup = registry_obj.get_all
        self.namespace = tuple(registry_obj.namespace)
        self.size = -1
        self.found: Dict[str, object] = {}

    def __call__(self) -> Dict[str, object]:
        reg = self.catalogue.REGISTRY
        if len(reg) != self.size or any(
            (self.namespace + (name,)) in reg and reg[self.namespace + (name,)] is not value
            for name, value in self.found.items()
        ):
            self.found, self.size = self.lookup(), len(reg)
        return self.found


def _msgpack_registries():
    from srsly import msgpack

    return (msgpack.msgpack_encoders, msgpack.msgpack_decoders)


@contextlib.contextmanager
def cached_msgpack_lookup(cache: Optional[Dict[Tuple[str, ...], "_CachedLookup"]] = None) -> Iterator[None]:
    """Within the block, srsly's msgpack extension lookups are cached (see
    _CachedLookup); after it, srsly is as it was. ``cache``, a dict, carries
    the cached lookups from one block to the next. Not thread-safe: meant for
    a reader's own loop."""
    cache = {} if cache is None else cache
    registries = [reg for reg in _msgpack_registries() if "get_all" not in vars(reg)]
    for reg in registries:
        namespace = tuple(reg.namespace)
        if namespace not in cache:
            cache[namespace] = _CachedLookup(reg)
        reg.get_all = cache[namespace]
    try:
        yield
    finally:
        for reg in registries:
            del reg.get_all


def cached(iterator: Iterator) -> Iterator:
    """Items of ``iterator``, each produced inside cached_msgpack_lookup():
    a generator's steps run with the cache, the caller's code between them without.
    The cache is kept from one step to the next: each doc's span groups would
    otherwise pay the first, uncached lookup again."""
    cache: Dict[Tuple[str, ...], _CachedLookup] = {}
    while True:
        with cached_msgpack_lookup(cache):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


@registry.callbacks("spacy_globalpointer.cached_msgpack_lookup.v1")
def make_cached_msgpack_lookup() -> Callable:
    """An ``[nlp] after_creation`` callback, opt-in: caches srsly's msgpack
    extension lookups for the whole process (see _CachedLookup; the cached
    answer is always the current one). Pays off with nlp.pipe(n_process=N),
    which sends every doc back to the parent through msgpack."""

    def after_creation(nlp):
        for reg in _msgpack_registries():
            if "get_all" not in vars(reg):
                reg.get_all = _CachedLookup(reg)
        return nlp

    return after_creation
