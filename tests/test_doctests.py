"""The examples in the docstrings of the dcsep modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dcsep

# packages a module may need that are optional extras (setup.cfg extras_require)
OPTIONAL = {"matplotlib", "espeakng_loader"}


def module_names() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(dcsep.__path__, "dcsep."))


@pytest.mark.parametrize("name", module_names())
def test_doctests(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"needs the optional package {e.name}")
        raise
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={**vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
