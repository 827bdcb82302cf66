"""The tour's report: one self-contained HTML page of captioned figures plus their numbers as JSON.

A :class:`Report` holds sections; a section holds figures; a figure is a lecture
:class:`~jaxtrain.lecture.Claim` rendered: its PNG, its caption and the numbers the caption rests
on. :meth:`Report.write` produces

- ``report.html``: every PNG embedded as a base64 ``data:`` URI, so the single file can be
  mailed, attached to a CI run or opened offline; a responsive layout (figures scale down to
  the width of a phone, nothing scrolls sideways);
- ``report.json``: the same sections, captions and numbers, machine-readable;
- ``figures/<section>-<figure>.png``: the PNGs beside it, for slides and notebooks.

A report still being made (``partial=True``) is written as ``report.partial.html`` and
``report.partial.json`` instead, so that it never replaces a whole report of an earlier run; the
whole report, once written, removes them, and the figures of an earlier report's sections that
it does not hold (a rerun with fewer ``--sections``): the folder shows one report.

``report.json`` is ``{"title", "meta": {versions, backend, devices, quick, seconds},
"sections": {<section id>: {"title", "summary", "seconds", "figures": {<figure id>:
{"file", "title", "caption", "numbers": {<name>: number | list | string}}}}}}``; NaN is
stored as ``null`` and ±∞ as ``"Infinity"``/``"-Infinity"`` (:mod:`jaxtrain._json`). The page
shows each figure's numbers too, each with the digits that print it apart from the others
(:func:`jaxtrain.lecture._claim.rounded_apart`), as the caption prints the values it compares.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import json
import pathlib
from collections.abc import Mapping
from typing import Any

from jaxtrain._json import to_jsonable
from jaxtrain._output_dir import OutputDir
from jaxtrain._text import counted
from jaxtrain.lecture._claim import Claim, png_bytes, rounded_apart

__all__ = ["COMMAND", "Figure", "Report", "Section", "to_jsonable"]

COMMAND = "jaxtrain tour"  # who wrote the report, in the output folder's manifest
_WHOLE, _PARTIAL = "report", "report.partial"  # the report files' names, less .html and .json


@dataclasses.dataclass
class Figure:
    """One claim of the lecture: a picture, its title and caption, the numbers behind it."""

    id: str
    caption: str
    png: bytes
    width: int
    height: int
    numbers: dict[str, Any]
    title: str = ""

    def file_name(self, section_id: str, *, partial: bool = False) -> str:
        """The PNG's name inside ``figures/``; a partial report's has its own (``.partial.png``),
        so that the whole report of an earlier run keeps its pictures."""
        return f"{section_id}-{self.id}{'.partial' if partial else ''}.png"


@dataclasses.dataclass
class Section:
    """A lecture section: a title, a one-paragraph summary of its idea and its figures."""

    id: str
    title: str
    summary: str
    figures: list[Figure] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def add_claim(self, claim: Claim) -> Figure:
        """Renders a lecture claim's figure (closing it afterwards) and appends it.

        Args:
          claim: the claim; its id must be unique within the section.

        Returns:
          The stored :class:`Figure`.
        """
        if any(existing.id == claim.id for existing in self.figures):
            raise ValueError(f"section {self.id!r} already has a figure {claim.id!r}")
        png, width, height = png_bytes(claim.figure)
        claim.close()
        numbers = to_jsonable(claim.numbers)
        figure = Figure(claim.id, claim.caption, png, width, height, numbers, claim.title)
        self.figures.append(figure)
        return figure


_CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee7; --accent: #2f5fb3; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f6f7fa; overflow-wrap: anywhere; }
main { max-width: 1400px; margin: 0 auto; padding: 1rem clamp(0.5rem, 3vw, 2rem) 3rem; }
header h1 { margin: 0.5rem 0 0.25rem; font-size: clamp(1.4rem, 4vw, 2rem); }
.meta { color: var(--muted); font-size: 0.9rem; margin: 0; }
nav ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; padding: 0; list-style: none; }
nav a, a { color: var(--accent); }
section { margin-top: 2rem; }
section > h2 { font-size: clamp(1.15rem, 3vw, 1.5rem); margin: 0 0 0.25rem;
               border-bottom: 2px solid var(--line); padding-bottom: 0.25rem; }
section > p { max-width: 75ch; margin: 0.25rem 0 1rem; }
.grid { display: grid; gap: 1rem;
        grid-template-columns: repeat(auto-fill, minmax(min(100%, 440px), 1fr)); }
figure { margin: 0; min-width: 0; background: #fff; border: 1px solid var(--line);
         border-radius: 8px; padding: 0.75rem; display: flex; flex-direction: column; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 0.92rem; margin-top: 0.5rem; }
figcaption b { font-weight: 600; }
details { margin-top: 0.5rem; font-size: 0.8rem; color: var(--muted); }
details dl { display: grid; grid-template-columns: minmax(0, max-content) minmax(0, 1fr);
             gap: 0 0.75rem; margin: 0.25rem 0 0; }
details dt { font-family: ui-monospace, monospace; }
details dd { margin: 0; font-family: ui-monospace, monospace; }
footer { margin-top: 2rem; color: var(--muted); font-size: 0.85rem; }
"""


class Report:
    """A titled list of :class:`Section` s that writes ``report.html`` and ``report.json``.

    Args:
      title: the page title.
      meta: run facts shown under the title and stored in ``report.json`` (backend, devices,
        quick or not, versions).
    """

    def __init__(self, title: str, meta: Mapping[str, Any] | None = None):
        self.title = title
        self.meta = dict(meta or {})
        self.sections: list[Section] = []

    def section(self, id: str, title: str, summary: str) -> Section:
        """Appends and returns a new, empty section."""
        if any(existing.id == id for existing in self.sections):
            raise ValueError(f"the report already has a section {id!r}")
        section = Section(id, title, summary)
        self.sections.append(section)
        return section

    def to_json(self, *, partial: bool = False) -> dict[str, Any]:
        """The report as plain JSON values (what ``report.json`` holds; with ``partial``, what
        ``report.partial.json`` holds: its figures' files are the partial ones)."""
        return {
            "title": self.title,
            "meta": to_jsonable(self.meta),
            "sections": {
                section.id: {
                    "title": section.title,
                    "summary": section.summary,
                    "seconds": round(section.seconds, 3),
                    "figures": {
                        figure.id: {
                            "file": f"figures/{figure.file_name(section.id, partial=partial)}",
                            "title": figure.title,
                            "caption": figure.caption,
                            "numbers": figure.numbers,
                        }
                        for figure in section.figures
                    },
                }
                for section in self.sections
            },
        }

    def to_html(self, json_name: str = f"{_WHOLE}.json") -> str:
        """The whole page, figures embedded as base64 PNG; its footer names ``json_name``."""
        esc = html.escape
        meta_text = " · ".join(f"{esc(str(k))}: {esc(str(v))}" for k, v in self.meta.items())
        nav = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in self.sections)
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body><main>",
            f'<header><h1>{esc(self.title)}</h1><p class="meta">{meta_text}</p></header>',
            f'<nav aria-label="sections"><ul>{nav}</ul></nav>',
        ]
        for section in self.sections:
            figures = counted(len(section.figures), "figure")
            parts.append(
                f'<section id="{esc(section.id)}"><h2>{esc(section.title)}</h2>'
                f"<p>{esc(section.summary)}</p>"
                f'<p class="meta">{figures}, {section.seconds:.1f} s</p>'
                '<div class="grid">'
            )
            for figure in section.figures:
                encoded = base64.b64encode(figure.png).decode("ascii")
                shown = rounded_apart(list(figure.numbers.values()))
                numbers = "".join(
                    f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>"
                    for k, v in zip(figure.numbers, shown, strict=True)
                )
                title = f"<b>{esc(figure.title)}.</b> " if figure.title else ""
                details = (
                    f"<details><summary>numbers</summary><dl>{numbers}</dl></details>"
                    if numbers
                    else ""
                )
                parts.append(
                    f'<figure id="{esc(section.id)}-{esc(figure.id)}">'
                    f'<img src="data:image/png;base64,{encoded}" width="{figure.width}" '
                    f'height="{figure.height}" alt="{esc(figure.caption)}">'
                    f"<figcaption>{title}{esc(figure.caption)}</figcaption>{details}</figure>"
                )
            parts.append("</div></section>")
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(
            f"<footer>Written by <code>jaxtrain tour</code> on {stamp}. The numbers behind "
            f"every caption are in <code>{esc(json_name)}</code>.</footer></main></body></html>"
        )
        return "\n".join(parts)

    def write(
        self, out_dir: str | pathlib.Path, *, partial: bool = False, overwrite: bool = False
    ) -> dict[str, pathlib.Path]:
        """Writes ``report.html``, ``report.json`` and ``figures/*.png`` into ``out_dir``.

        Each file is written atomically (a reader never sees half a file; the files are
        replaced one after another: figures, ``report.json``, then ``report.html``), a link at
        a file's name is replaced and a linked ``figures`` folder refused (nothing is written
        through a link), and the folder's manifest records the files as ``jaxtrain tour``'s (see
        :class:`jaxtrain._output_dir.OutputDir`).

        Args:
          out_dir: the output folder.
          partial: the report is not yet whole (a tour still running): write it as
            ``report.partial.html``, ``report.partial.json`` and ``figures/*.partial.png``, and
            leave a whole report of an earlier run as it is, with its figures. A whole report
            (``False``) removes the tour's other files (see
            :meth:`jaxtrain._output_dir.OutputDir.remove_stale`): the partial report, its
            figures and the figures of sections it does not hold.
          overwrite: replace files of these names that are not an earlier output of this
            command (the user's own; ``--overwrite``); without it they are refused.

        Returns:
          ``{"html": path, "json": path, "figures": folder}``.

        Raises:
          jaxtrain._output_dir.OutputDirError: ``out_dir/figures`` is a link or a file, or a
            file of a name it writes is not the tour's (see
            :func:`jaxtrain._output_dir.claim_output_dir`).
        """
        stem = _PARTIAL if partial else _WHOLE
        # Both texts first: a report that cannot be rendered must leave the folder as it was.
        json_text = json.dumps(self.to_json(partial=partial), indent=2, allow_nan=False)
        html_text = self.to_html(f"{stem}.json")
        out = OutputDir(out_dir, COMMAND, overwrite=overwrite)
        for section in self.sections:
            for figure in section.figures:
                name = figure.file_name(section.id, partial=partial)
                out.write_bytes(f"figures/{name}", figure.png)
        json_path = out.write_text(f"{stem}.json", json_text)
        html_path = out.write_text(f"{stem}.html", html_text)
        if not partial:
            # The whole report is now all of the tour the folder holds: the partial one goes,
            # and so do the figures of sections an earlier report had and this one has not.
            out.remove_stale()
        return {"html": html_path, "json": json_path, "figures": out.path / "figures"}
