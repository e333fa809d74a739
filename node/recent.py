"""A set that remembers only the most recent items: what a long-running node keeps of ids it
has seen (trade ids, client order ids) without growing for ever."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class Recent(Generic[T]):
    """Membership of the last ``keep`` items added (older ones are forgotten, oldest first).

    ``keep`` is chosen per use so that anything a venue could still send again (a resent fill, a
    reused id) is far inside the window.
    """

    def __init__(self, keep: int, items: Iterable[T] = ()) -> None:
        self.keep = keep
        self._items: OrderedDict[T, None] = OrderedDict()
        for item in items:
            self.add(item)

    def add(self, item: T) -> None:
        items = self._items
        if item in items:
            items.move_to_end(item)
            return
        items[item] = None
        if len(items) > self.keep:
            items.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
