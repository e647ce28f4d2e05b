"""The component's settings as data: one table (name, default, check) drives
the properties, their validation, what is stored in ``cfg`` and saved, and
which value wins when a saved pipeline is loaded with a new config."""

from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _spans_key(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def _threshold(value: Any) -> float:
    if not _is_number(value):
        raise ValueError("must be a number")
    return float(value)


def _label_thresholds(value: Any) -> Dict[str, float]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and _is_number(v) for k, v in value.items()
    ):
        raise ValueError("must map labels to numbers")
    return {k: float(v) for k, v in value.items()}


def _max_span_length(value: Any) -> Optional[int]:
    if value is not None and not _is_count(value):
        raise ValueError("must be a positive number of tokens or None")
    return value


def _spans_per_token(value: Any) -> float:
    if not _is_number(value) or value <= 0:
        raise ValueError("must be positive")
    return float(value)


def _overwrite_ents(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _max_batch_items(value: Any) -> int:
    if not _is_count(value):
        raise ValueError("must be a positive integer")
    return value


def _length_weight(value: Any) -> float:
    if not _is_number(value) or value < 0:
        raise ValueError("must be a number, 0 or more")
    return float(value)


@dataclass(frozen=True)
class Setting:
    """A component setting: ``check`` returns the value to store, or raises
    ValueError with what the value must be."""

    name: str
    default: Any
    check: Callable[[Any], Any]
    doc: str


SETTINGS = (
    Setting("spans_key", "sc", _spans_key, "The doc.spans key of predictions, and of gold in training."),
    Setting("threshold", 0.0, _threshold, "A span is predicted when its score (a logit) is above this."),
    Setting("label_thresholds", {}, _label_thresholds, "Thresholds for some labels, in place of threshold."),
    Setting(
        "max_span_length",
        64,
        _max_span_length,
        "Longest span scored, in tokens (None: every span); the weights do not depend on it.",
    ),
    Setting("spans_per_token", 1.0, _spans_per_token, "At most ceil(len(doc) x this) spans kept per doc."),
    Setting("overwrite_ents", False, _overwrite_ents, "Replace doc.ents, or fill around those already set."),
    Setting("max_batch_items", 4096, _max_batch_items, "Padded tokens per model call at prediction."),
    Setting(
        "length_weight",
        0.0,
        _length_weight,
        "In training, a gold span of n tokens weighs n**length_weight in the loss (0: all alike).",
    ),
)
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}


class SettingProperty:
    """A setting as a property: read from the owner's ``cfg``, checked when set
    (the error names the component and the setting), and the owner's
    ``_setting_changed`` told of the new value."""

    def __init__(self, setting: Setting):
        self.setting = setting
        self.__doc__ = setting.doc

    def __get__(self, owner: Any, cls: Any = None) -> Any:
        if owner is None:
            return self
        value = owner.cfg[self.setting.name]
        return dict(value) if isinstance(value, dict) else value

    def __set__(self, owner: Any, value: Any) -> None:
        try:
            checked = self.setting.check(value)
        except ValueError as err:
            raise ValueError(f"[{owner.name}] {self.setting.name} {err}, got {value!r}.") from None
        owner.cfg[self.setting.name] = checked
        owner._setting_changed(self.setting.name, checked)


def with_settings(cls: type) -> type:
    """Add a SettingProperty for every setting to a component class."""
    for setting in SETTINGS:
        setattr(cls, setting.name, SettingProperty(setting))
    return cls


def settings_after_load(given: Dict[str, Any], saved: Dict[str, Any]) -> Dict[str, Any]:
    """The value of every setting once a pipeline is loaded. ``given``: the
    constructor's cfg (the config at load time, with ``config_settings``);
    ``saved``: the cfg read from disk. A setting the load-time config gives
    differently from the config the pipeline was saved with was given at load
    time and wins; any other keeps the saved value, which may have been
    changed on the component before saving. A setting the saved pipeline does
    not record keeps its saved value, or the given one if it has none."""
    saved_config = saved.get("config_settings", {})
    out = {}
    for name in DEFAULTS:
        at_load = given[name]
        changed_at_load = name in saved_config and at_load != saved_config[name]
        out[name] = saved[name] if name in saved and not changed_at_load else at_load
    return out
