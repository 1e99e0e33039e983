"""scripts/mutate.py stays applicable: every snippet matches the source once, every test exists.

``make mutate`` itself is slow and not part of ``make test``; this check is instant, so
a refactor that moves a mutated line fails here, naming the mutation to re-anchor,
instead of silently disabling it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dhmad_mutate", ROOT / "scripts" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up by name
    spec.loader.exec_module(module)
    return module


mutate = _load()


@pytest.mark.parametrize("mutation", mutate.MUTATIONS, ids=lambda m: m.name)
def test_every_mutation_applies_to_the_current_source(mutation: object) -> None:
    """Each edit's snippet occurs exactly once, and applying them changes the file."""
    source = (ROOT / mutation.path).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert mutate.mutated_source(mutation, source) != source
    for test in mutation.tests:  # type: ignore[attr-defined]
        assert (ROOT / test).exists(), test


def test_names_are_unique() -> None:
    """--only selects by name."""
    names = [m.name for m in mutate.MUTATIONS]
    assert len(names) == len(set(names))


def test_a_stale_snippet_names_its_mutation() -> None:
    """A snippet that no longer matches (or matches twice) says which mutation to re-anchor."""
    first = mutate.MUTATIONS[0]
    with pytest.raises(mutate.StaleMutation, match=rf"'{first.name}' no longer applies.*not found"):
        mutate.mutated_source(first, "nothing to see here")
    snippet = first.edits[0].original
    with pytest.raises(mutate.StaleMutation, match="found 2 times"):
        mutate.mutated_source(first, snippet + "\n" + snippet)
