"""``scipy.special``, the distribution functions of :mod:`crmkit.stats`, imported without
what it loads for nothing.

Its array-API layer copies every name NumPy exports (``from numpy import *``), and so
imports ``numpy.f2py`` (Fortran wrappers, with ``charset_normalizer``) and ``numpy.testing``,
which NumPy itself loads only when first named: 0.03-0.06 s of every report kernel's start
(a third to a half of the import), for modules no report uses. While ``scipy.special``
loads, NumPy names them as :class:`~crmkit._lazy.OnFirstUse` modules, which load when first
used; then NumPy is left as it was. What copied the names then keeps the stand-ins
(``scipy._lib.array_api_compat.numpy.testing``): they work as the modules do, but are not
the same objects.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy

from crmkit._lazy import OnFirstUse

#: NumPy's modules that ``scipy.special`` names and never uses (module docstring).
UNUSED = ("f2py", "testing")


def _import() -> ModuleType:
    """``scipy.special``, imported with :data:`UNUSED` named as stand-ins that NumPy drops
    again afterwards (those a module imported meanwhile are left to NumPy)."""
    named = {name: OnFirstUse(f"numpy.{name}") for name in UNUSED
             if "scipy.special" not in sys.modules and f"numpy.{name}" not in sys.modules}
    for name, module in named.items():
        setattr(numpy, name, module)
    try:
        from scipy import special
    finally:
        for name, module in named.items():
            if numpy.__dict__.get(name) is module:
                delattr(numpy, name)  # NumPy loads it when it is named again
    return special


special = _import()
