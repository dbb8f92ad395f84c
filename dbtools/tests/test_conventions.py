"""House rules that a reader cannot see being broken until it is too late."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from core import activity, settings_store
from monitoring import actions as monitoring_actions
from servers import actions as server_actions
from servers import deployment
from tenants import actions as tenant_actions
from tenants import provisioning

# Every module whose functions change data on behalf of someone.
ACTION_MODULES = [
    server_actions,
    deployment,
    monitoring_actions,
    settings_store,
    tenant_actions,
    provisioning,
]


def public_functions(module: ModuleType) -> list[tuple[str, inspect.Signature]]:
    return [
        (f"{module.__name__}.{name}", inspect.signature(fn))
        for name, fn in vars(module).items()
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_")
    ]


@pytest.mark.parametrize("module", ACTION_MODULES, ids=lambda m: m.__name__)
def test_actions_take_the_acting_user_by_one_keyword_only_name(module: ModuleType) -> None:
    """Who acts is always `acting_user=`: never `user`, `by` or a position a caller can
    confuse with the data."""
    wrong = []
    for name, sig in public_functions(module):
        for param in sig.parameters.values():
            if param.name in ("user", "by"):
                wrong.append(f"{name}({param.name}=...)")
            if param.name == "acting_user" and param.kind is not param.KEYWORD_ONLY:
                wrong.append(f"{name}: acting_user is not keyword-only")
    assert not wrong, wrong


def test_the_activity_log_names_the_acting_user_the_same_way() -> None:
    assert "acting_user" in inspect.signature(activity.record).parameters
