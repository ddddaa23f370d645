"""One agent's claim queue in memory: its entries in claim order, cut into pages and directories
exactly where `gitstate.queue` cuts them, kept up to date one entry at a time.

Each change says which pages it touched (`PageId`: the head page, or the entry a page starts
at), so that only those are encoded again. Adding or removing an entry is a bisection among the
page starts and an insertion into one page (about 64 entries): O(log n) comparisons, whatever the
size of the queue. A directory cut (one entry in 4096) moves the pages up to the next directory
cut to another directory: those are touched too.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

from reconciler.gitstate.queue import HEAD, SortKey, cut_name, page_path

PageId = SortKey | None  # None: the head page, before the first cut


class AgentPages:
    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.head: list[SortKey] = []  # the entries before the first cut
        self.starts: list[SortKey] = []  # each later page's first entry (a cut), in order
        self.pages: list[list[SortKey]] = []  # those pages, parallel to `starts`
        self.dirs: list[SortKey] = []  # the directory cuts, in order
        self.paths: dict[PageId, str] = {}  # where each page was last written

    @classmethod
    def bulk(cls, agent: str, orders: Iterable[tuple[SortKey, int]]) -> AgentPages:
        """The pages of `orders` (each with its cut level), given in claim order."""
        q = cls(agent)
        current = q.head
        for order, level in orders:
            if level:
                current = [order]
                q.starts.append(order)
                q.pages.append(current)
                if level == 2:
                    q.dirs.append(order)
            else:
                current.append(order)
        return q

    def __bool__(self) -> bool:
        return bool(self.head or self.pages)

    def page_ids(self) -> Iterator[PageId]:
        if self.head:
            yield None
        yield from self.starts

    def page(self, pid: PageId) -> list[SortKey] | None:
        """The entries of page `pid`, None if there is no such page."""
        if pid is None:
            return self.head or None
        i = bisect_left(self.starts, pid)
        return self.pages[i] if i < len(self.starts) and self.starts[i] == pid else None

    def path(self, pid: PageId) -> str:
        directory: SortKey | None = None
        if pid is not None:
            i = bisect_right(self.dirs, pid) - 1
            directory = self.dirs[i] if i >= 0 else None
        return page_path(
            self.agent,
            HEAD if directory is None else cut_name(directory),
            HEAD if pid is None else cut_name(pid),
        )

    def page_of(self, order: SortKey) -> PageId:
        i = bisect_right(self.starts, order) - 1
        return self.starts[i] if i >= 0 else None

    def add(self, order: SortKey, level: int, touched: set[PageId]) -> None:
        i = bisect_right(self.starts, order) - 1
        if not level:
            insort(self.pages[i] if i >= 0 else self.head, order)
            touched.add(self.starts[i] if i >= 0 else None)
            return
        before = self.pages[i] if i >= 0 else self.head  # the page it splits
        j = bisect_left(before, order)
        tail = before[j:]
        del before[j:]
        touched.add(self.starts[i] if i >= 0 else None)
        self.starts.insert(i + 1, order)
        self.pages.insert(i + 1, [order, *tail])
        touched.add(order)
        if level == 2:
            insort(self.dirs, order)
            touched.update(self._dir_pages(order))  # they move into the new directory

    def remove(self, order: SortKey, level: int, touched: set[PageId]) -> None:
        if not level:
            pid = self.page_of(order)
            page = self.page(pid)
            assert page is not None
            del page[bisect_left(page, order)]
            touched.add(pid)
            return
        if level == 2:
            touched.update(self._dir_pages(order))  # they move into the directory before
            del self.dirs[bisect_left(self.dirs, order)]
        i = bisect_left(self.starts, order)
        rest = self.pages[i][1:]
        del self.starts[i], self.pages[i]
        touched.add(order)
        if i > 0:
            self.pages[i - 1].extend(rest)
            touched.add(self.starts[i - 1])
        else:
            self.head.extend(rest)
            touched.add(None)

    def _dir_pages(self, cut: SortKey) -> list[SortKey]:
        """The starts of the pages from `cut` up to the next directory cut."""
        k = bisect_right(self.dirs, cut)
        end = self.dirs[k] if k < len(self.dirs) else None
        lo = bisect_left(self.starts, cut)
        hi = bisect_left(self.starts, end) if end is not None else len(self.starts)
        return self.starts[lo:hi]
