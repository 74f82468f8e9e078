"""Per-request shaping state: the error list, and response paths built only for errors."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()
BUBBLE: Any = object()  # a non-null field came out null: the parent must become null

# A response path as a linked list: (parent, key) or None at the root. Building one costs a
# tuple per object; it is turned into a list only when an error needs it.
Path = tuple[Any, str | int] | None


def path_list(path: Path) -> list[Any]:
    out: list[Any] = []
    while path is not None:
        path, key = path
        out.append(key)
    out.reverse()
    return out


class Run:
    """The errors of one response, and what is known about where they are."""

    __slots__ = ("_error_paths", "_pathless", "errors")

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self._error_paths: list[tuple[Any, ...]] | None = None
        self._pathless = False

    def error(self, message: str, path: Path) -> None:
        self.errors.append({"message": message, "path": path_list(path)})
        self._error_paths = None

    def null_error(self, parent: str, field: str, path: Path) -> None:
        """A non-null field is null: say so, unless an error already explains it."""
        if not self._has_error_at(path_list(path)):
            self.error(f"Cannot return null for non-nullable field {parent}.{field}.", path)

    def _has_error_at(self, path: list[Any]) -> bool:
        """Whether an error already explains a null at or below `path`."""
        if self._error_paths is None:
            self._error_paths = [tuple(e["path"]) for e in self.errors if e.get("path")]
            self._pathless = any(not e.get("path") for e in self.errors)
        if self._pathless:
            return True
        tp = tuple(path)
        n = len(tp)
        return any(p[:n] == tp or tp[: len(p)] == p for p in self._error_paths)
