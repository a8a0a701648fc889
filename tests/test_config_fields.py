"""``sw.fields.check_known_fields``: the one "unknown field" check of every config ``from_dict``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sw.fields import check_known_fields


@dataclass
class _Two:
    a: int = 0
    b: int = 0


def test_unknown_keys_are_named_with_the_known_fields():
    check_known_fields(_Two, {"a": 1}, "toy")
    with pytest.raises(KeyError) as e:
        check_known_fields(_Two, {"b": 1, "z": 2, "c": 3}, "toy", KeyError, where="t.toml")
    assert e.value.args[0] == "t.toml: unknown toy field(s) ['c', 'z']; known: ['a', 'b']"


def test_each_config_uses_it_with_its_own_error():
    from eavs.demo_config import ConfigError, DemoConfig
    from hw.spec.capacity import Capacity, CapacityError
    from sw.model import ModelConfig, ModelConfigError

    with pytest.raises(ModelConfigError, match=r"^unknown model config field\(s\) \['hiden'\]; known: \["):
        ModelConfig.from_dict({"hiden": 3})
    with pytest.raises(CapacityError, match=r"^boards.toml \[x\]: unknown capacity field\(s\) \['lane'\]; known: \["):
        Capacity.from_dict({"lane": 3}, where="boards.toml [x]")
    with pytest.raises(ConfigError, match=r"^unknown demo config field\(s\) \['epoch'\]; known: \["):
        DemoConfig.from_dict({"epoch": 3})
