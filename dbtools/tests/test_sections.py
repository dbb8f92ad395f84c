"""Parts of pages registered by the apps above them (`dbtools.sections`)."""

import pytest
from django.test import RequestFactory

from dbtools import sections


def test_every_app_registers_its_parts_in_order():
    keys = [s.key for s in sections.sections(sections.DASHBOARD)]
    assert keys == ["alerts", "policies", "jobs", "platform"]
    assert [s.key for s in sections.sections(sections.SERVER)] == ["alerts", "policies", "jobs"]
    assert [s.key for s in sections.sections(sections.SERVER_HEADER)] == ["alerts", "jobs"]
    assert [s.key for s in sections.sections(sections.GROUP)] == [
        "metrics",
        "policies",
        "jobs",
        "alerts",
    ]


def test_an_unknown_place_is_refused():
    with pytest.raises(ValueError, match="Unknown place"):
        sections.register("sidebar", sections.Section("x", "x.html", lambda r, o: {}))


def test_build_gives_each_part_its_context_for_the_object():
    place = sections.SERVER_LIST
    saved = dict(sections._registry[place])
    try:
        sections._registry[place].clear()
        sections.register(place, sections.Section("b", "b.html", lambda r, o: {"o": o}, 2))
        sections.register(place, sections.Section("a", "a.html", lambda r, o: {"o": o * 2}, 1))
        built = sections.build(place, RequestFactory().get("/"), 21)
        assert [(p.key, p.template, p.context) for p in built] == [
            ("a", "a.html", {"o": 42}),
            ("b", "b.html", {"o": 21}),
        ]
    finally:
        sections._registry[place].clear()
        sections._registry[place].update(saved)
