"""What a conversion could not carry, or had to change, counted: one line at the end of every
conversion, so that nothing is lost without a word."""
from __future__ import annotations

from collections import Counter


class Notes(Counter):
    """``message -> count``. Messages read as a noun phrase after a count, e.g.
    ``notes.lost("polygon shapes with no person (LabelMe shapes COCO keypoints cannot hold)", 3)``.

    ``lost`` is for data that is not in the output; ``changed`` for data that is, altered
    (a box clipped to its image)."""

    def lost(self, what: str, n: int = 1) -> None:
        if n:
            self["lost\t" + what] += int(n)

    def changed(self, what: str, n: int = 1) -> None:
        if n:
            self["changed\t" + what] += int(n)

    def merge(self, other: "Notes | None") -> "Notes":
        if other:
            self.update(other)
        return self

    def _items(self, kind: str) -> list[str]:
        return [f"{n} {key.split(chr(9), 1)[1]}" for key, n in sorted(self.items()) if key.startswith(kind + "\t")]

    @property
    def has_loss(self) -> bool:
        return bool(self._items("lost"))

    def line(self) -> str:
        """One line for the end of a conversion: what was not carried and what was changed."""
        lost, changed = self._items("lost"), self._items("changed")
        parts = ["not carried: " + "; ".join(lost) if lost else "everything carried"]
        if changed:
            parts.append("changed: " + "; ".join(changed))
        return ". ".join(parts)
