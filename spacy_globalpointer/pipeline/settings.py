"""Component settings as typed descriptors, declared in the component's class.

A class attribute ``threshold = Setting(0.0, number, "...")`` is the one place
a setting's name, default, check and description are written: it is a typed
property (a type checker resolves ``pipe.threshold`` as a float), checked when
set, stored in the component's ``cfg`` (so it is saved with the pipeline), and
the factory's defaults, docstring and the README's table are read from it.
``settings_after_load`` is the rule for which value wins when a saved pipeline
is loaded with a config that gives another.
"""

from types import MappingProxyType
from typing import Any, Callable, Dict, Generic, Mapping, Optional, TypeVar, overload

T = TypeVar("T")
# Where cfg keeps what the config said when the component was made.
CONFIGURED = "config_settings"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def number(value: Any) -> float:
    if not _is_number(value):
        raise ValueError("must be a number")
    return float(value)


def positive_number(value: Any) -> float:
    if not _is_number(value) or value <= 0:
        raise ValueError("must be positive")
    return float(value)


def non_negative_number(value: Any) -> float:
    if not _is_number(value) or value < 0:
        raise ValueError("must be a number, 0 or more")
    return float(value)


def count(value: Any) -> int:
    if not _is_count(value):
        raise ValueError("must be a positive integer")
    return int(value)


def count_or_none(value: Any) -> Optional[int]:
    if value is not None and not _is_count(value):
        raise ValueError("must be a positive number of tokens or None")
    return value


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def numbers_by_label(value: Any) -> Dict[str, float]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and _is_number(v) for k, v in value.items()
    ):
        raise ValueError("must map labels to numbers")
    return {k: float(v) for k, v in value.items()}


class Setting(Generic[T]):
    """A component setting: a property that reads the owner's ``cfg``, checks
    a new value (``check`` returns the value to store, or raises ValueError
    saying what it must be) and tells the owner's ``_setting_changed``.

    A mapping comes back read-only: ``pipe.label_thresholds["X"] = 1.0`` is
    an error, not a change to a copy that is silently lost. Assign a new
    mapping instead."""

    name: str

    def __init__(self, default: T, check: Callable[[Any], T], doc: str) -> None:
        self.default = default
        self.check = check
        self.doc = doc
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, cls: Any = None) -> "Setting[T]": ...

    @overload
    def __get__(self, obj: object, cls: Any = None) -> T: ...

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.cfg[self.name]
        return MappingProxyType(value) if isinstance(value, dict) else value

    def __set__(self, obj: Any, value: T) -> None:
        try:
            checked = self.check(value)
        except ValueError as err:
            raise ValueError(f"[{obj.name}] {self.name} {err}, got {value!r}.") from None
        obj.cfg[self.name] = checked
        obj._setting_changed(self.name, checked)


def settings_of(cls: type) -> Dict[str, Setting]:
    """The settings a component class declares, in declaration order."""
    found: Dict[str, Setting] = {}
    for klass in reversed(cls.__mro__):
        found.update((k, v) for k, v in vars(klass).items() if isinstance(v, Setting))
    return found


def defaults_of(cls: type) -> Dict[str, Any]:
    """The defaults of a component class's settings, as a factory's default_config takes them."""
    return {name: setting.default for name, setting in settings_of(cls).items()}


def settings_doc(cls: type) -> str:
    """One line per setting, for the factory's docstring."""
    return "\n".join(f"    {name}: {setting.doc}" for name, setting in settings_of(cls).items())


def plain(value: Any) -> Any:
    """A setting's value as cfg and config.cfg store it (a read-only mapping as a dict)."""
    return dict(value) if isinstance(value, Mapping) else value


def settings_after_load(names: Any, given: Dict[str, Any], saved: Dict[str, Any]) -> Dict[str, Any]:
    """The value of every setting in ``names`` once a pipeline is loaded.
    ``given``: the constructor's cfg (the config at load time, with
    ``config_settings``); ``saved``: the cfg read from disk. A setting the
    load-time config gives differently from the config the pipeline was saved
    with was given at load time and wins; any other keeps the saved value,
    which may have been changed on the component before saving. A setting the
    saved pipeline does not record keeps its saved value, or the given one if
    it has none."""
    saved_config = saved.get(CONFIGURED, {})
    out = {}
    for name in names:
        at_load = given[name]
        changed_at_load = name in saved_config and at_load != saved_config[name]
        out[name] = saved[name] if name in saved and not changed_at_load else at_load
    return out


class WithSettings:
    """What a component with Settings shares: what the config said recorded
    once the constructor has set every setting (each by name, so that a
    setting read from the factory leads to its property), and the load-time
    rule applied after from_bytes / from_disk. Put it before TrainablePipe in
    the bases. The component defines ``name``, ``cfg`` and ``_setting_changed``."""

    name: str
    cfg: Dict[str, Any]

    def _settings_configured(self) -> None:
        """Record what the config said (on loading, a setting that differs
        from the saved one was given at load time and wins: see
        settings_after_load). Every declared setting must have been set."""
        declared = settings_of(type(self))
        missing = sorted(set(declared) - set(self.cfg))
        if missing:
            raise TypeError(
                f"[{self.name}] settings {missing} were not set by {type(self).__name__}.__init__."
            )
        self.cfg[CONFIGURED] = {key: self.cfg[key] for key in declared}

    def _setting_changed(self, name: str, value: Any) -> None:
        """Called after a setting is assigned; a component that mirrors a
        setting elsewhere (in its model) overrides it."""

    def mark_configured(self, *names: str) -> None:
        """Record the current values of these settings as what the config
        says, as when config.cfg is rewritten with them (calibrate does)."""
        self.cfg[CONFIGURED].update({name: plain(getattr(self, name)) for name in names})

    def from_bytes(self, bytes_data: bytes, *, exclude: Any = tuple()) -> Any:
        given = dict(self.cfg)
        super().from_bytes(bytes_data, exclude=exclude)  # type: ignore[misc]
        self._after_load(given)
        return self

    def from_disk(self, path: Any, *, exclude: Any = tuple()) -> Any:
        given = dict(self.cfg)
        super().from_disk(path, exclude=exclude)  # type: ignore[misc]
        self._after_load(given)
        return self

    def _after_load(self, given: Dict[str, Any]) -> None:
        """The saved cfg replaces the constructor's; then every setting takes
        its value from settings_after_load."""
        names = settings_of(type(self))
        for key, value in settings_after_load(names, given, dict(self.cfg)).items():
            setattr(self, key, value)
        self.cfg[CONFIGURED] = given[CONFIGURED]
