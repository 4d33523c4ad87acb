"""YAML files read safely, with the line of every key, so that a mistake in a mapping or a
preset is reported as ``file, line N: what is wrong``.

Both file kinds are validated by typed models (pydantic); :func:`first_problem` turns the
first validation error into that one line, using the line map of :func:`load`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

#: A key's path in the document (mapping keys and list indices) -> its 1-based line.
Lines = dict[tuple[Any, ...], int]


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; ``line`` (1-based) and ``problem`` say where and why."""

    def __init__(self, line: int | None, problem: str) -> None:
        self.line, self.problem = line, problem
        super().__init__(f"line {line}: {problem}" if line else problem)


def load(text: str) -> tuple[Any, Lines]:
    """Parse ``text`` safely; also return the line of every mapping key and list item."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlSyntaxError(mark.line + 1 if mark is not None else None, problem) from None
    lines: Lines = {}
    _walk(node, (), lines, yaml.SafeLoader(""))
    return data, lines


def _walk(node: yaml.Node | None, prefix: tuple[Any, ...], lines: Lines, loader: Any) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = loader.construct_object(k, deep=True)
            try:
                hash(key)
            except TypeError:
                continue
            lines[(*prefix, key)] = k.start_mark.line + 1
            _walk(v, (*prefix, key), lines, loader)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            lines[(*prefix, i)] = v.start_mark.line + 1
            _walk(v, (*prefix, i), lines, loader)


def line_of(lines: Mapping[tuple[Any, ...], int], path: Sequence[Any]) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    keys = tuple(path)
    while keys:
        if keys in lines:
            return lines[keys]
        keys = keys[:-1]
    return None


def first_problem(error: Any, lines: Mapping[tuple[Any, ...], int]) -> tuple[int | None, str]:
    """``(line, message)`` of the first error of a ``pydantic.ValidationError``."""
    first = error.errors(include_url=False)[0]
    loc = tuple(first.get("loc", ()))
    where = ".".join(str(k) for k in loc)
    message = first.get("msg", "invalid value")
    return line_of(lines, loc), f"{where}: {message}" if where else message
