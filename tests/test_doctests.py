"""The examples in the docstrings of the dcsep modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dcsep

# packages a module may need that are optional extras (setup.cfg extras_require)
OPTIONAL = {"matplotlib", "espeakng_loader"}
# the modules checked: the core library (registries, config, model and every plugin kind)
CHECKED = ("dcsep.registry", "dcsep.config", "dcsep.model", "dcsep.utils", "dcsep.errors")
CHECKED_PACKAGES = ("dcsep.frontends", "dcsep.encoders", "dcsep.losses", "dcsep.clusterers")


def module_names() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(dcsep.__path__, "dcsep.")]
    return sorted(n for n in names if n in CHECKED or n.startswith(tuple(p + "." for p in CHECKED_PACKAGES)))


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
