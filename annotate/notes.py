"""What a conversion could not carry, or had to change, counted: one line at the end of every
conversion, so that nothing is lost without a word; and the account that checks it
(count in = carried + counted)."""
from __future__ import annotations

from collections import Counter

#: The units an account checks: what a reader saw of each must be carried or counted as lost.
UNITS = ("images", "persons", "keypoints")


class Notes(Counter):
    """``(kind, unit, message) -> count``. Messages read as a noun phrase after a count, e.g.
    ``notes.lost("polygon shapes with no person (LabelMe shapes COCO keypoints cannot hold)", 3)``.

    ``lost`` is for data that is not in the output; ``changed`` for data that is, altered
    (a box clipped to its image). ``unit`` (one of :data:`UNITS`) says that the lost things are
    whole images, persons or labeled keypoints: the account (:class:`Account`) adds them up."""

    def lost(self, what: str, n: int = 1, unit: str | None = None) -> None:
        if n:
            self[("lost", unit, what)] += int(n)

    def changed(self, what: str, n: int = 1) -> None:
        if n:
            self[("changed", None, what)] += int(n)

    def merge(self, other: "Notes | None") -> "Notes":
        if other:
            self.update(other)
        return self

    def dropped(self, unit: str) -> int:
        """How many ``unit`` (images, persons, keypoints) are counted as lost."""
        return sum(n for (kind, u, _), n in self.items() if kind == "lost" and u == unit)

    def _items(self, kind: str) -> list[str]:
        return [f"{n} {what}" for (k, _, what), n in sorted(self.items(), key=lambda kv: kv[0][2]) if k == kind]

    def line(self) -> str:
        """One line for the end of a conversion: what was not carried and what was changed."""
        lost, changed = self._items("lost"), self._items("changed")
        parts = ["not carried: " + "; ".join(lost) if lost else "everything carried"]
        if changed:
            parts.append("changed: " + "; ".join(changed))
        return ". ".join(parts)


class Account(Counter):
    """What a reader saw in the source, per unit (:data:`UNITS`), counted as it walks the source
    (every person element, every labeled point), independently of what it builds. After reading,
    :meth:`settle` checks that each is carried by the dataset or counted in the notes."""

    def seen(self, unit: str, n: int = 1) -> None:
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}")
        self[unit] += int(n)

    def settle(self, carried: dict[str, int], notes: Notes) -> list[str]:
        """The differences (one phrase each) between what was seen and what was carried plus
        counted as lost; empty when the account balances. Only units the reader counted."""
        out = []
        for unit in UNITS:
            if unit in self and self[unit] != carried[unit] + notes.dropped(unit):
                out.append(f"{self[unit]} {unit} read, {carried[unit]} carried and {notes.dropped(unit)} counted "
                           f"as not carried")
        return out
