"""Paginated listings, as wandb's `wandb.apis.paginator` hands them out.

Listings (`Api().artifacts(...)`, `collection.artifacts()`, `run.logged_artifacts()`,
`artifact.files()`, ...) are iterators that fetch `per_page` items at a time from the
store, only when iteration reaches them, so a collection of thousands of versions is
never loaded whole. As in wandb:

- `.cursor` is an opaque string marking where the next page starts; passing it as
  `start=` to the same listing later resumes there;
- `len()` is the total the store reports (it fetches the first page if needed);
- `paginator[i]` / `paginator[a:b]` load pages until the index is reached;
- `iter()` restarts at the first loaded object, `next()` continues.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Optional, TypeVar, Union, overload

T = TypeVar("T")

__all__ = ["Page", "Paginator", "SizedPaginator", "check_page_vars", "decode_cursor", "encode_cursor", "paged",
           "paged_records"]


def encode_cursor(offset: int) -> str:
    """The opaque cursor of the item at `offset` in a listing's order."""
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def decode_cursor(cursor: Optional[str]) -> int:
    """The offset a cursor from `encode_cursor` marks (None: the start).

    Raises:
        ValueError: if `cursor` was not made by a paginator.
    """
    if cursor is None:
        return 0
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != "cursor" or not number.isdigit():
        raise ValueError(f"Invalid pagination cursor: {cursor!r}")
    return int(number)


_ORDER = re.compile(r"\A([+-])?([a-zA-Z_]\w*)\Z", re.ASCII)


def check_page_vars(title: str, per_page: Any, order: Optional[str] = None) -> tuple[int, Optional[str]]:
    """`per_page` and `order` checked as wandb's paginator variables (`title`, e.g.
    `_ArtifactsVars`) check them: a positive int (a numeric string or bool is
    converted), and `[+-]name` (no sign means `+`). Raises pydantic's ValidationError."""
    from .errors import ValidationError

    errors = []
    value = per_page
    if isinstance(per_page, str):
        try:
            value = int(per_page.strip())
        except ValueError:
            errors.append({"type": "int_parsing", "loc": ("per_page",), "input": per_page,
                           "msg": "Input should be a valid integer, unable to parse string as an integer"})
    elif isinstance(per_page, float) and per_page.is_integer():
        value = int(per_page)
    elif not isinstance(per_page, int):
        errors.append({"type": "int_type", "loc": ("per_page",), "input": per_page,
                       "msg": "Input should be a valid integer"})
    if not errors and int(value) <= 0:
        errors.append({"type": "greater_than", "loc": ("per_page",), "input": per_page,
                       "msg": "Input should be greater than 0", "ctx": {"gt": 0}})
    if order is not None:
        match = _ORDER.match(order) if isinstance(order, str) else None
        if match is None:
            errors.append({"type": "value_error", "loc": ("order",), "input": order,
                           "msg": f"Value error, Invalid order string: {order!r}"})
        else:
            order = f"{match.group(1) or '+'}{match.group(2)}"
    if errors:
        raise ValidationError(title, errors)
    return int(value), order


@dataclass(frozen=True)
class Page(Generic[T]):
    """One fetched page: its items, whether more follow, the listing's total, and how
    many positions of the listing it covered (more than `len(items)` when a filter
    dropped some, as wandb's tag filter does on each page)."""

    items: list
    has_next: bool
    total: Optional[int] = None
    consumed: Optional[int] = None


class Paginator(Iterator[T]):
    """An iterator over a listing fetched a page at a time (wandb's `Paginator`).

    `fetch(offset, limit)` returns the `Page` of up to `limit` items from `offset`.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Page],
        per_page: int = 50,
        start: Optional[str] = None,
    ) -> None:
        self._fetch = fetch
        self.per_page: int = per_page
        self.objects: list[T] = []
        self.index: int = -1
        self.last_response: Optional[Page] = None
        self._start = start
        self._offset = decode_cursor(start)

    def __iter__(self) -> Iterator[T]:
        self.index = -1
        return self

    @property
    def more(self) -> bool:
        """Whether there are more pages to fetch."""
        return self.last_response is None or self.last_response.has_next

    @property
    def cursor(self) -> Optional[str]:
        """An opaque cursor marking the start of the next page: pass it as `start=` to
        resume this listing later from where it stopped."""
        if self.last_response is None:
            return self._start
        return encode_cursor(self._offset)

    def convert_objects(self) -> list[T]:
        """The objects of the last fetched page."""
        return list(self.last_response.items) if self.last_response is not None else []

    def _load_page(self) -> bool:
        """Fetch the next page; False if there was none."""
        if not self.more:
            return False
        page = self._fetch(self._offset, self.per_page)
        self.last_response = page
        self._offset += len(page.items) if page.consumed is None else page.consumed
        self.objects.extend(self.convert_objects())
        return True

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[T, list[T]]:
        loaded = True
        stop = index.stop if isinstance(index, slice) else index
        if stop is None or stop < 0:  # counts from the end: everything is needed
            while self._load_page():
                pass
        else:
            while loaded and stop > len(self.objects) - 1:
                loaded = self._load_page()
        return self.objects[index]

    def __next__(self) -> T:
        self.index += 1
        while len(self.objects) <= self.index:  # a filtered page may be empty: go on
            if not self._load_page():
                raise StopIteration
        return self.objects[self.index]

    next = __next__

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class SizedPaginator(Paginator[T]):
    """A paginator whose listing has a known total (`len()`, wandb's `SizedPaginator`)."""

    def __len__(self) -> int:
        if self.last_response is None:
            self._load_page()
        total = self.last_response.total if self.last_response is not None else None
        if total is None:
            raise ValueError("Object doesn't provide length")
        return total


def paged_records(
    page_at: Callable[[int, int], tuple[list, int]],
    convert: Callable[[Any], Any],
    keep: Optional[Callable[[Any], bool]] = None,
) -> Callable[[int, int], Page]:
    """A `fetch` from a store's page call: `page_at(offset, limit)` returns up to `limit`
    records and the listing's total (as `version_page`, `collection_page` and
    `lineage_page` do, in one read); `convert` makes each record the object handed out,
    and `keep` filters each page after that, as wandb filters artifacts by tag."""

    def fetch(offset: int, limit: int) -> Page:
        records, total = page_at(offset, limit + 1)  # one extra tells whether a next page exists
        page = [convert(record) for record in records[:limit]]
        kept = page if keep is None else [item for item in page if keep(item)]
        return Page(kept, len(records) > limit, total, consumed=len(page))

    return fetch


def paged(
    items_at: Callable[[int, int], list],
    total: Callable[[], int],
    keep: Optional[Callable[[Any], bool]] = None,
) -> Callable[[int, int], Page]:
    """A `fetch` from `items_at(offset, limit)` and `total()` (one store query each);
    `keep` filters each page after fetching it, as wandb filters artifacts by tag."""
    return paged_records(lambda offset, limit: (items_at(offset, limit), total()), lambda item: item, keep)

