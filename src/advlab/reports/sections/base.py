"""What a report section is, and the registry the section modules add themselves to.

A section is one kind of result in a run's report (samples, a summary, an evaluation, attacks, ...). It says
whether it applies to a run (``applies``: cheap, from the files the run holds, and honest -- a section that
applies has something to show, one that does not is left out), reads what it shows once (``collect``, which
also (re)writes its plots), and renders that as HTML and as Markdown under a heading of the level it is given.
``order`` puts the answer first: the pictures and headline figures lead, diagnostics follow, and the
configuration comes last, folded. ``headline`` offers the one picture a page of several runs shows for this run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.reports.reading import Run

# Where sections stand in a report, first to last.
LEAD, HEADLINE, RESULTS, DETAILS, LAST = 10, 20, 40, 60, 100


class Section:
    """One kind of result in a run's report; subclasses set ``title`` and ``order`` and override the methods."""

    title: str = ""
    order: int = RESULTS

    def applies(self, run: Run) -> bool:
        """Does this run hold the result this section shows?"""
        raise NotImplementedError

    def collect(self, run: Run) -> Any:
        """What to render (read once, plots written here); by default the run itself."""
        return run

    def html(self, view: Any, base: Path, level: int) -> str:
        """The section as HTML, its heading at ``level``; links relative to ``base``."""
        raise NotImplementedError

    def markdown(self, view: Any, base: Path, level: int) -> str:
        """The same content as Markdown."""
        raise NotImplementedError

    def headline(self, view: Any) -> tuple[str, Path] | None:
        """(caption, picture) that stands for the run on a page of several runs, or None."""
        return None

    def __repr__(self) -> str:
        return f"<section {self.title!r} order {self.order}>"


SECTIONS: list[Section] = []


def register(cls: type[Section]) -> type[Section]:
    """Class decorator: add one instance of a section to the registry, kept in report order."""
    SECTIONS.append(cls())
    SECTIONS.sort(key=lambda section: section.order)
    return cls


def sections_for(run: Run) -> list[Section]:
    """The registered sections that apply to ``run``, in report order."""
    return [section for section in SECTIONS if section.applies(run)]
