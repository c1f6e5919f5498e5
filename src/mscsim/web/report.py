# ruff: noqa: RUF001, RUF002  (Chinese text: full-width punctuation is meant)
"""The printable report: a scenario's answers as one self-contained HTML or PDF file.

The report shows what the page shows, from the same answers
(:func:`mscsim.web.answers.answers`) and the same words (:mod:`mscsim.web.i18n`):
the scenario in words, the answers to the two questions patients ask (will I
become dependent? — the ``withdrawal`` section; why several infusions? — the
``compare`` section), every section's figure with its one-sentence reading, the
dose against the evidence, what is a guess (with each guess's source), and every
source cited, each with its bibliographic line from the evidence dossier.

* HTML: the figures are plotly charts, drawn by the plotly library's bundled script
  written into the file; nothing is fetched from the network.
* PDF: the figures are drawn with matplotlib; the text's fonts are embedded as
  TrueType (``pdf.fonttype`` 42). Chinese needs a CJK font (Debian's
  ``fonts-noto-cjk``): the glyphs the report uses are converted from the font's
  CFF outlines to TrueType outlines, since a CFF font embedded as TrueType is not a
  valid PDF font (matplotlib issue 20870).

The report computes its answers on a finer grid than the page
(:data:`REPORT_RESOLUTION_DAY`), unless it is asked for the page's own numbers.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mscsim import __version__
from mscsim.errors import SpecError
from mscsim.web import i18n
from mscsim.web.i18n import Lang

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mscsim.spec import Scenario

__all__ = [
    "LANGUAGES",
    "QUESTIONS",
    "REPORT_FORMATS",
    "REPORT_RESOLUTION_DAY",
    "WORDS",
    "Report",
    "Row",
    "Section",
    "build_report",
    "cited_ids",
    "cjk_font",
    "draw_figure",
    "missing_font_message",
    "pdf_bytes",
    "reference_lines",
    "render_html",
    "report_text",
    "scenario_words",
    "wrap",
    "write_pdf",
]

REPORT_FORMATS: tuple[str, ...] = (".html", ".pdf")
"""File names ``mscsim report`` writes."""
LANGUAGES: tuple[str, ...] = ("en", "zh")
"""Languages of the report."""
REPORT_RESOLUTION_DAY = 0.1
"""Analysis grid of the report (2.4 h): finer than the page's 6 h
(:data:`mscsim.web.answers.PAGE_RESOLUTION_DAY`) and still about 20 s for the SCA
example on two busy cores (1.2 h, the command line's grid, takes about 30 s)."""
QUESTIONS: tuple[tuple[str, str], ...] = (("dependence", "withdrawal"), ("several", "compare"))
"""The patients' two questions (keys of :data:`WORDS`) and the section answering each."""
CJK_PACKAGE = "fonts-noto-cjk"
"""The Debian package whose font draws the Chinese report."""
EVIDENCE_DOC = Path(__file__).resolve().parents[3] / "docs" / "MSC_EVIDENCE.md"
"""The evidence dossier, whose reference list gives each R-number's bibliographic line."""

_REFERENCE = re.compile(r"^- \*\*(R\d+)\*\* (.*)$")
_CITED = re.compile(r"\bR(\d+)[a-e]?\b")
_CITED_RANGE = re.compile(r"\bR(\d+)[a-e]?\s*[-–]\s*R(\d+)[a-e]?\b")
_MAX_RANGE = 20
"""A range of R-numbers wider than this is read as its two ends only."""
# --- sources -----------------------------------------------------------------------------


def cited_ids(answers: Any) -> tuple[str, ...]:
    """Return every R-number cited anywhere in ``answers`` (its strings), in numeric order.

    A range (``R25-R28``) cites every number in it.

    Examples
    --------
    >>> cited_ids({"a": ["R26, R27", {"b": "see R9 and R109b"}], "c": 1})
    ('R9', 'R26', 'R27', 'R109')
    >>> cited_ids(["extraction (R25-R28)"])
    ('R25', 'R26', 'R27', 'R28')
    """
    found = {int(m) for text in _strings(answers) for m in _CITED.findall(text)}
    for text in _strings(answers):
        for low, high in _CITED_RANGE.findall(text):
            if 0 < int(high) - int(low) <= _MAX_RANGE:
                found.update(range(int(low), int(high) + 1))
    return tuple(f"R{i}" for i in sorted(found))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@cache
def _dossier_references() -> dict[str, str]:
    """Parse the reference list of ``docs/MSC_EVIDENCE.md`` (empty if it is not installed)."""
    if not EVIDENCE_DOC.is_file():
        return {}
    refs: dict[str, str] = {}
    current = None
    text = EVIDENCE_DOC.read_text(encoding="utf-8")
    for line in text.split("## References", 1)[-1].splitlines():
        match = _REFERENCE.match(line)
        if match:
            current = match.group(1)
            refs[current] = match.group(2).strip()
        elif current and line.startswith("  - "):
            refs[current] += " " + line.strip()[2:]
        elif line.startswith("#"):
            break
    return refs


def reference_lines(ids: Sequence[str]) -> dict[str, str | None]:
    """Return each R-number's bibliographic line from the evidence dossier.

    ``None`` for a number the dossier does not list (or when the dossier is not
    installed beside the package): the report then names the number only; it never
    writes a reference it cannot read.
    """
    refs = _dossier_references()
    return {i: _plain(refs[i]) if i in refs else None for i in ids}


def _plain(markdown: str) -> str:
    """Drop the dossier's markdown emphasis: ``*Neurology* 2011`` -> ``Neurology 2011``."""
    return re.sub(r"\*{1,2}([^*]+)\*{1,2}", r"\1", markdown)


# --- the report's content, from the answers ----------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a section's table: a guess, or a source of the dose evidence.

    Attributes
    ----------
    name : str
        What it is in plain words (empty for a dose source).
    value : str
        The value assumed and its plausible range (empty for a dose source).
    references : tuple of str
        The R-numbers its source names.
    source : str
        The library's source text (in English).
    """

    name: str
    value: str
    references: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Section:
    """One section of the answers: a heading, its reading and, perhaps, a figure and a table.

    Attributes
    ----------
    key : str
        The section's id in the answers (``"cells"``, ``"withdrawal"``...).
    title : str
    reading : str
        The one-sentence reading, computed from the model's numbers.
    figure : Mapping or None
        A plotly figure (``{"data": [...], "layout": {...}}``).
    rows : tuple of Row
        The guesses, or the dose evidence's sources.
    """

    key: str
    title: str
    reading: str
    figure: Mapping[str, Any] | None = None
    rows: tuple[Row, ...] = ()


@dataclass(frozen=True)
class Report:
    """Everything the report says, in one language, before it is laid out."""

    lang: Lang
    title: str
    subtitle: str
    scenario_name: str
    scenario: tuple[tuple[str, str], ...]
    questions: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    sources: Mapping[str, str | None]
    notes: tuple[str, ...]
    words: Mapping[str, str]


# --- text --------------------------------------------------------------------------------

_NO_LINE_START = set("，。；：、！？）》」』,.;:!?)%")
"""Characters a line may not begin with (they stay with the character before them)."""


def _cell_width(char: str) -> float:
    """Return the width of ``char`` in ems: 1 for a wide (CJK) character, else about 0.55."""
    return 1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.55


def _tokens(text: str) -> list[str]:
    """Split ``text`` into pieces a line may break between: words, spaces, CJK characters."""
    return re.findall(r"\s+|[^\s\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]+|.", text)


def wrap(text: str, width_em: float) -> list[str]:
    """Break ``text`` into lines of at most ``width_em`` ems (wider single words overflow).

    English breaks at spaces, Chinese between characters, and no line starts with a
    closing punctuation mark.

    Examples
    --------
    >>> wrap("one two three", 5)
    ['one two', 'three']
    >>> wrap("间充质干细胞，旁分泌", 6)
    ['间充质干细', '胞，旁分泌']
    """
    lines: list[str] = []
    line, used = "", 0.0
    for token in _tokens(text):
        size = sum(_cell_width(c) for c in token)
        if line and used + size > width_em and not token.isspace():
            if token[0] in _NO_LINE_START and len(line.rstrip()) > 1:
                token, line = line.rstrip()[-1] + token, line.rstrip()[:-1]
                size += _cell_width(token[0])
            lines.append(line.rstrip())
            line, used = "", 0.0
        if not (token.isspace() and not line):
            line += token
            used += size
    if line.strip():
        lines.append(line.rstrip())
    return lines


# --- fonts -------------------------------------------------------------------------------

_CJK_FAMILY = "mscsim report CJK"
"""Family name of the TrueType subset made for one report (unlike any installed font's)."""


@dataclass(frozen=True)
class CjkFont:
    """An installed font that draws Simplified Chinese: its file and face in the file."""

    path: Path
    face_index: int
    family: str


def cjk_font() -> CjkFont | None:
    """Find an installed Simplified Chinese font (Noto Sans CJK SC preferred), or ``None``.

    Asks fontconfig (``fc-match``) first, then the faces matplotlib knows.
    """
    found = _fc_match()
    if found is not None:
        return found
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if "CJK SC" in entry.name or entry.name in ("Noto Sans SC", "Source Han Sans SC"):
            return CjkFont(Path(entry.fname), getattr(entry, "face_index", 0), entry.name)
    return None


def _fc_match() -> CjkFont | None:
    command = shutil.which("fc-match")
    if command is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603  (fc-match from PATH, fixed arguments)
            [command, "-f", "%{file}\n%{index}\n%{family[0]}\n%{lang}\n", "sans:lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) < 4 or "zh-cn" not in out[3].split("|"):
        return None  # fontconfig's best match is a font without Chinese
    path = Path(out[0])
    return CjkFont(path, int(out[1] or 0), out[2]) if path.is_file() else None


def _truetype_subset(font: CjkFont, text: str, target: Path) -> None:
    """Write the glyphs of ``text`` from ``font`` as a TrueType font named :data:`_CJK_FAMILY`.

    CFF outlines (Noto CJK's) are converted to quadratic TrueType outlines
    (fontTools' cu2qu, at most 1 font unit off), so that the PDF embeds a valid
    TrueType font.
    """
    from fontTools import subset  # type: ignore[import-untyped]

    options = subset.Options()
    options.font_number = font.face_index
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []
    face = subset.load_font(str(font.path), options)
    try:  # the font keeps its file open, to read tables lazily: close it when done
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(face)
        if "CFF " in face:
            _cff_to_glyf(face)
        for record in face["name"].names:
            if record.nameID in (1, 16):
                record.string = _CJK_FAMILY
        face.save(str(target))
    finally:
        face.close()


def _cff_to_glyf(face: Any) -> None:
    """Replace a font's CFF outlines with TrueType ``glyf`` outlines, in place."""
    from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped]
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]
    from fontTools.ttLib import newTable  # type: ignore[import-untyped]

    order = face.getGlyphOrder()
    glyph_set = face.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    face["loca"] = newTable("loca")
    face["glyf"] = glyf
    del face["CFF "]
    if "VORG" in face:
        del face["VORG"]
    for name in order:
        glyph = glyf.glyphs[name]
        if glyph.numberOfContours:
            glyph.recalcBounds(glyf)
        advance, _ = face["hmtx"][name]
        face["hmtx"][name] = (advance, getattr(glyph, "xMin", 0))
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
        "maxComponentDepth",
    ):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    maxp.recalc(face)
    face["maxp"] = maxp
    post = face["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    face["head"].glyphDataFormat = 0
    face.sfntVersion = "\x00\x01\x00\x00"


def missing_font_message() -> str:
    """Say in one line that a Chinese PDF needs a CJK font, and what to install."""
    return (
        "--lang = 'zh': a Chinese PDF needs a Chinese font and none is installed; "
        f"install one with apt-get install {CJK_PACKAGE} (or write an .html report)"
    )


@contextmanager
def _report_fonts(text: str, lang: str) -> Iterator[list[str]]:
    """Yield the font families that draw ``text`` (a CJK subset first if it has CJK text).

    Raises
    ------
    SpecError
        For Chinese when no CJK font is installed, saying what to install.
    """
    from matplotlib import font_manager

    wide = "".join(sorted({c for c in text if _cell_width(c) == 1.0}))
    font = cjk_font() if lang == "zh" or wide else None
    if font is None and lang == "zh":
        raise SpecError(missing_font_message())
    if font is None:
        yield ["DejaVu Sans"]
        return
    with tempfile.TemporaryDirectory(prefix="mscsim-report-font-") as folder:
        path = Path(folder) / "cjk.ttf"
        _truetype_subset(font, wide or "中", path)
        manager = font_manager.fontManager
        before = list(manager.ttflist)
        manager.addfont(str(path))
        try:
            yield [_CJK_FAMILY, "DejaVu Sans"]
        finally:
            manager.ttflist[:] = before
            cached = getattr(manager, "_findfont_cached", None)
            if cached is not None:
                cached.cache_clear()


# --- figures: a plotly figure drawn with matplotlib --------------------------------------

_DASH = {"dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--", "solid": "-"}
_MARKER = {"diamond": "D", "line-ns-open": "|", "circle": "o", "square": "s", "x": "x"}
_RGB = re.compile(r"rgba?\(([^)]*)\)")
_TAG = re.compile(r"<[^>]+>")


def _values(raw: Any) -> list[Any]:
    """Return a plotly array (a list, or ``{"dtype", "bdata"}`` as plotly encodes numpy)."""
    if isinstance(raw, Mapping) and "bdata" in raw:
        import base64

        import numpy as np

        data = np.frombuffer(base64.b64decode(raw["bdata"]), dtype=raw.get("dtype", "f8"))
        return [float(v) for v in data]
    return [math.nan if v is None else v for v in (raw or [])]


def _color(raw: Any) -> Any:
    """Return a plotly colour as matplotlib reads it (``rgba(r, g, b, a)`` -> a tuple)."""
    if not isinstance(raw, str):
        return None
    match = _RGB.fullmatch(raw.replace(" ", ""))
    if match is None:
        return raw
    parts = [float(p) for p in match.group(1).split(",")]
    rgb = tuple(p / 255.0 for p in parts[:3])
    return (*rgb, parts[3]) if len(parts) > 3 else rgb


def _title(axis: Mapping[str, Any] | None) -> str:
    title = (axis or {}).get("title")
    if isinstance(title, Mapping):
        return str(title.get("text") or "")
    return str(title or "")


def _axis_ids(figure: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the (x axis, y axis) pairs the traces use, in order: ``("x", "y")``..."""
    pairs: list[tuple[str, str]] = []
    for trace in figure.get("data", []):
        pair = (trace.get("xaxis", "x"), trace.get("yaxis", "y"))
        if pair not in pairs:
            pairs.append(pair)
    return pairs or [("x", "y")]


def _layout_axis(layout: Mapping[str, Any], axis_id: str) -> Mapping[str, Any]:
    """``"x2"`` -> ``layout["xaxis2"]``."""
    return layout.get(f"{axis_id[0]}axis{axis_id[1:]}", {}) or {}


def legend_labels(figure: Mapping[str, Any]) -> list[str]:
    """Return the legend's entries of a plotly figure: named traces and shapes, once each."""
    layout = figure.get("layout", {}) or {}
    if layout.get("showlegend") is False:
        return []
    items = [*figure.get("data", []), *(layout.get("shapes", []) or [])]
    names = [str(t.get("name")) for t in items if t.get("name") and t.get("showlegend", True)]
    return list(dict.fromkeys(names))


def draw_figure(fig: Figure, figure: Mapping[str, Any], box: Sequence[float]) -> list[Axes]:
    """Draw a plotly figure's traces onto ``fig`` within ``box`` (left, bottom, width, height).

    Lines, markers, bars (also horizontal), filled bands (``fill="tonexty"``/``"toself"``),
    the axes' titles, log scales and tick labels, vertical line and rectangle shapes
    (dose markers, ranges), panel titles and subplots by domain. The legend is not drawn
    (:func:`legend_labels` and the handles of the returned axes give it).
    """
    layout = figure.get("layout", {}) or {}
    left, bottom, width, height = box
    labels = _category_width(figure, fig.get_figwidth())
    left, width = left + labels, width - labels
    axes: dict[tuple[str, str], Axes] = {}
    for pair in _axis_ids(figure):
        xa, ya = (_layout_axis(layout, a) for a in pair)
        x0, x1 = xa.get("domain", [0.0, 1.0])
        y0, y1 = ya.get("domain", [0.0, 1.0])
        gap_x = 0.06 if x1 < 1 or x0 > 0 else 0.0
        ax = fig.add_axes(
            (
                left + width * x0 + (gap_x if x0 > 0 else 0),
                bottom + height * y0 + (0.03 if y0 > 0 else 0),
                width * (x1 - x0) - gap_x,
                height * (y1 - y0) - (0.03 if y0 > 0 or y1 < 1 else 0),
            )
        )
        _style_axes(ax, xa, ya, bottom_row=y0 == 0)
        axes[pair] = ax
    _draw_traces(figure.get("data", []), axes)
    _draw_shapes(layout.get("shapes", []) or [], axes)
    _draw_panel_titles(layout.get("annotations", []) or [], axes)
    return list(axes.values())


def _category_width(figure: Mapping[str, Any], figure_width_in: float) -> float:
    """Return the room (a fraction of the page's width) a horizontal bar's labels need."""
    names = [
        str(name)
        for trace in figure.get("data", [])
        if trace.get("orientation") == "h"
        for name in _values(trace.get("y"))
    ]
    if not names:
        return 0.0
    em = max(sum(_cell_width(c) for c in name) for name in names)
    return min(0.45, em * 7.5 / 72 / figure_width_in)


def _style_axes(ax: Axes, xa: Mapping[str, Any], ya: Mapping[str, Any], bottom_row: bool) -> None:
    ax.set_xlabel(_title(xa) if bottom_row else "", fontsize=8)
    ax.set_ylabel(_title(ya), fontsize=8)
    ax.tick_params(labelsize=7)
    if not bottom_row:
        ax.tick_params(labelbottom=False)
    for axis, set_scale, side in ((xa, ax.set_xscale, ax.xaxis), (ya, ax.set_yscale, ax.yaxis)):
        if axis.get("type") == "log":
            set_scale("log")
            _log_labels(side)
    for axis, set_lim in ((xa, ax.set_xlim), (ya, ax.set_ylim)):
        bounds = axis.get("range")
        if bounds and axis.get("type") != "log" and None not in bounds:
            set_lim(*bounds)
    for axis, set_ticks in ((xa, ax.set_xticks), (ya, ax.set_yticks)):
        if axis.get("tickvals") is not None:
            set_ticks(list(axis["tickvals"]), [str(t) for t in axis.get("ticktext", [])] or None)
    ax.spines[["top", "right"]].set_visible(False)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _power_of_ten(value: float, _position: Any = None) -> str:
    """Return ``10⁸`` for a power of ten, else nothing (plain text: no mathtext fonts)."""
    if not value > 0:
        return ""
    exponent = round(math.log10(value))
    if not math.isclose(value, 10.0**exponent, rel_tol=1e-6):
        return ""
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def _log_labels(side: Any) -> None:
    """Label a log ``side`` (an x or y axis) ``10⁸``, without mathtext.

    Matplotlib writes log ticks as mathtext, which draws digits from the first font
    family: the report's CJK subset has none.
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter

    side.set_major_formatter(FuncFormatter(_power_of_ten))
    side.set_minor_formatter(NullFormatter())


def _draw_traces(traces: Sequence[Mapping[str, Any]], axes: Mapping[tuple[str, str], Axes]) -> None:
    previous: dict[tuple[str, str], list[float]] = {}
    for trace in traces:
        pair = (trace.get("xaxis", "x"), trace.get("yaxis", "y"))
        ax = axes[pair]
        x, y = _values(trace.get("x")), _values(trace.get("y"))
        if not x and y:
            x = list(range(len(y)))
        line = trace.get("line", {}) or {}
        marker = trace.get("marker", {}) or {}
        color = _color(line.get("color")) or _color(marker.get("color"))
        fill_color = _color(trace.get("fillcolor")) or color
        label = trace.get("name") if trace.get("showlegend", True) is not False else None
        kind = trace.get("type", "scatter")
        fill = trace.get("fill")
        if kind == "bar" and trace.get("orientation") == "h":
            ax.barh(y, x, color=color, label=label)
        elif kind == "bar":
            ax.bar(x, y, color=color, label=label)
        elif fill == "tonexty" and pair in previous and len(previous[pair]) == len(y):
            alpha = None if isinstance(fill_color, tuple) and len(fill_color) == 4 else 0.25
            ax.fill_between(x, previous[pair], y, color=fill_color, alpha=alpha, lw=0, label=label)
        elif fill == "toself":
            ax.fill(x, y, color=fill_color, alpha=0.25, lw=0, label=label)
        else:
            _plot(ax, x, y, trace, color, label)
        previous[pair] = y


def _plot(ax: Axes, x: list[Any], y: list[Any], trace: Mapping[str, Any], color: Any,
          label: str | None) -> None:  # fmt: skip
    line = trace.get("line", {}) or {}
    marker = trace.get("marker", {}) or {}
    mode = str(trace.get("mode", "lines"))
    width = line.get("width")
    if "lines" in mode and width == 0:
        return  # an invisible edge of a band
    ax.plot(
        x,
        y,
        ls=_DASH.get(line.get("dash", "solid"), "-") if "lines" in mode else "none",
        marker=_MARKER.get(str(marker.get("symbol", "circle")), "o") if "markers" in mode else None,
        ms=3 if "lines" in mode else min(10.0, 0.6 * float(marker.get("size", 6))),
        lw=1.4 if width is None else float(width) * 0.7,
        color=color,
        label=label,
    )


def _draw_shapes(shapes: Sequence[Mapping[str, Any]], axes: Mapping[tuple[str, str], Axes]) -> None:
    """Draw vertical line shapes (dose markers) and rectangles on the axes they refer to."""
    from matplotlib.patches import Rectangle

    for shape in shapes:
        xref = str(shape.get("xref", "x"))
        label = shape.get("name") if shape.get("showlegend") else None
        for (x_id, y_id), ax in axes.items():
            if xref not in (x_id, "paper"):
                continue
            if shape.get("type") == "line" and shape.get("x0") == shape.get("x1"):
                line = shape.get("line", {}) or {}
                ax.axvline(
                    float(shape["x0"]),
                    color=_color(line.get("color")) or "0.6",
                    ls=_DASH.get(line.get("dash", "dot"), ":"),
                    lw=0.8,
                    label=label,
                )
            elif shape.get("type") == "rect" and shape.get("yref", "y") == y_id:
                x0, x1, y0, y1 = (float(shape[k]) for k in ("x0", "x1", "y0", "y1"))
                ax.add_patch(
                    Rectangle(
                        (x0, y0),
                        x1 - x0,
                        y1 - y0,
                        lw=0,
                        label=label,
                        color=_color(shape.get("fillcolor")) or "0.8",
                    )
                )
                ax.update_datalim([(x0, y0), (x1, y1)])
                ax.autoscale_view()
            label = None  # in the legend once


def _draw_panel_titles(annotations: Sequence[Mapping[str, Any]],
                       axes: Mapping[tuple[str, str], Axes]) -> None:  # fmt: skip
    """Write annotations placed on an axis' domain (``xref="x2 domain"``) as its title."""
    for note in annotations:
        xref = str(note.get("xref", ""))
        if not xref.endswith(" domain"):
            continue
        for (x_id, _), ax in axes.items():
            if x_id == xref.split()[0]:
                ax.set_title(_TAG.sub("", str(note.get("text", ""))), fontsize=8.5, loc="left")
                break


# --- PDF ---------------------------------------------------------------------------------

_PAGE_IN = (8.27, 11.69)  # A4 portrait
_MARGIN_IN = 0.75
_AXES_IN = 2.6
"""Height of a figure's plotting area (a figure 460 px high on the page)."""
_LEGEND_ROW_IN = 0.17
_LEGEND_COLUMNS = 2
_PANEL_TITLE_IN = 0.25


class _Pages:
    """Lay the report out top to bottom over A4 pages: paragraphs and figure blocks."""

    def __init__(self, pdf: Any, footer: str, *, has_bold: bool = True) -> None:
        self.pdf = pdf
        self.footer = footer
        self.has_bold = has_bold  # the CJK subset has one weight: headings are larger instead
        self.n_pages = 0
        self.fig: Figure | None = None
        self.y_in = 0.0

    def _page(self) -> Figure:
        from matplotlib.figure import Figure

        self.close()
        self.fig = Figure(figsize=_PAGE_IN)
        self.n_pages += 1
        self.fig.text(0.5, 0.4 / _PAGE_IN[1], f"{self.footer} · {self.n_pages}", ha="center",
                      fontsize=7, color="0.4")  # fmt: skip
        self.y_in = _MARGIN_IN
        return self.fig

    def _room(self, height_in: float) -> Figure:
        if self.fig is None or self.y_in + height_in > _PAGE_IN[1] - _MARGIN_IN:
            return self._page()
        return self.fig

    def text(
        self,
        text: str,
        size: float = 9.5,
        weight: str = "normal",
        after: float = 0.4,
        *,
        keep_with_next_in: float = 0.0,
        color: str = "black",
    ) -> None:
        """Write a paragraph, on one page if it fits on one; ``after``: space below, in lines.

        ``keep_with_next_in``: the height that must follow on the same page (a heading's
        first paragraph or figure).
        """
        width_em = (_PAGE_IN[0] - 2 * _MARGIN_IN) * 72 / size
        line_in = size * 1.45 / 72
        lines = wrap(text, width_em)
        block = len(lines) * line_in + keep_with_next_in
        if block < _PAGE_IN[1] - 2 * _MARGIN_IN:
            self._room(block)
        for line in lines:
            fig = self._room(line_in)
            self.y_in += line_in
            fig.text(_MARGIN_IN / _PAGE_IN[0], 1 - self.y_in / _PAGE_IN[1], line,
                     fontsize=size, weight=weight if self.has_bold else "normal",
                     va="baseline", color=color)  # fmt: skip
        self.y_in += after * line_in

    def heading(self, text: str, keep_with_next_in: float = 0.5) -> None:
        """Write a heading, on the page of what follows it (``keep_with_next_in`` high)."""
        self.text(text, size=12.5, weight="bold", after=0.3, keep_with_next_in=keep_with_next_in)

    def figure(self, figure: Mapping[str, Any]) -> None:
        """Draw a plotly figure and its legend below it, as one block."""
        height = _figure_height_in(figure)
        fig = self._room(height)
        titles = _PANEL_TITLE_IN if _has_panel_titles(figure) else 0.0
        top = self.y_in + 0.1 + titles
        axes_in = height - 0.55 - titles - _legend_height_in(figure)
        box = (
            (_MARGIN_IN + 0.55) / _PAGE_IN[0],
            1 - (top + axes_in) / _PAGE_IN[1],
            (_PAGE_IN[0] - 2 * _MARGIN_IN - 0.65) / _PAGE_IN[0],
            axes_in / _PAGE_IN[1],
        )
        axes = draw_figure(fig, figure, box)
        shown = set(legend_labels(figure))
        handles: dict[str, Any] = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label in shown:
                    handles.setdefault(label, handle)
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles),
                loc="upper left",
                bbox_to_anchor=(_MARGIN_IN / _PAGE_IN[0], 1 - (top + axes_in + 0.42) / _PAGE_IN[1]),
                ncol=_LEGEND_COLUMNS,
                fontsize=7,
                frameon=False,
            )
        self.y_in = top + height

    def close(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            self.fig = None


def _has_panel_titles(figure: Mapping[str, Any]) -> bool:
    notes = (figure.get("layout", {}) or {}).get("annotations", []) or []
    return any(str(n.get("xref", "")).endswith(" domain") for n in notes)


def _legend_height_in(figure: Mapping[str, Any]) -> float:
    rows = math.ceil(len(legend_labels(figure)) / _LEGEND_COLUMNS)
    return rows * _LEGEND_ROW_IN


def _figure_height_in(figure: Mapping[str, Any]) -> float:
    """Return a figure's height: its plotting area (by its layout's height) and legend."""
    pixels = float((figure.get("layout", {}) or {}).get("height") or 460)
    titles = _PANEL_TITLE_IN if _has_panel_titles(figure) else 0.0
    return _AXES_IN * min(1.4, max(0.5, pixels / 460)) + 0.55 + titles + _legend_height_in(figure)


def _pdf_story(report: Report, pages: _Pages) -> None:
    words = report.words
    pages.text(report.title, size=16, weight="bold", after=0.3)
    pages.text(report.subtitle, size=9, after=0.6, color="0.3")
    pages.heading(words["scenario"] + _named(report.scenario_name))
    for label, value in report.scenario:
        pages.text(f"{label}: {value}", size=9, after=0.05)
    pages.heading(words["answers"])
    for question, answer in report.questions:
        pages.text(question, size=10.5, weight="bold", after=0.1, keep_with_next_in=0.5)
        pages.text(answer)
    pages.text(i18n.text("disclaimer", report.lang), size=8.5, color="0.3")
    for section in report.sections:
        first = _figure_height_in(section.figure) if section.figure else 0.5
        pages.heading(section.title, first)
        if section.figure:
            pages.figure(section.figure)
        pages.text(section.reading)
        for row in section.rows:
            if row.name:
                pages.text(f"{row.name}: {row.value}", size=8.5, after=0.05)
            pages.text(_row_source(row), size=7.5, after=0.4, color="0.3")
    if report.notes:
        pages.heading(i18n.text("notes", report.lang))
        for note in report.notes:
            pages.text(note, size=8, after=0.2)
    pages.heading(words["references"])
    for ref_id, line in report.sources.items():
        pages.text(f"{ref_id}  {line or words['not_listed']}", size=8, after=0.15)


def _named(name: str) -> str:
    return f" ({name})" if name else ""


def _row_source(row: Row) -> str:
    refs = ", ".join(row.references)
    return f"{refs} — {row.source}" if refs else row.source


def write_pdf(report: Report, path: Path | BinaryIO) -> None:
    """Write ``report`` as a PDF to ``path`` (A4, fonts embedded as TrueType).

    Raises
    ------
    SpecError
        For Chinese when no CJK font is installed (:func:`missing_font_message`).
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    text = "\n".join(_strings(_report_strings(report)))
    with _report_fonts(text, report.lang) as families:
        style: dict[Any, Any] = {
            "pdf.fonttype": 42,
            "font.family": families,
            "axes.unicode_minus": False,
        }
        with matplotlib.rc_context(style), PdfPages(path, metadata=_pdf_metadata(report)) as pdf:
            pages = _Pages(pdf, f"mscsim {__version__}", has_bold=report.lang != "zh")
            _pdf_story(report, pages)
            pages.close()


def pdf_bytes(report: Report) -> bytes:
    """Return ``report`` as the bytes of a PDF (:func:`write_pdf`)."""
    buffer = io.BytesIO()
    write_pdf(report, buffer)
    return buffer.getvalue()


def _pdf_metadata(report: Report) -> dict[str, Any]:
    return {"Title": report.title, "Creator": f"mscsim {__version__}", "CreationDate": None}


def _report_strings(report: Report) -> list[Any]:
    """Every string the PDF may draw (its font subset must hold their glyphs)."""
    return [
        report.title,
        report.subtitle,
        report.scenario_name,
        list(report.scenario),
        list(report.questions),
        [
            [
                s.title,
                s.reading,
                s.figure or {},
                [[r.name, r.value, _row_source(r)] for r in s.rows],
            ]
            for s in report.sections
        ],
        list(report.sources.values()),
        list(report.notes),
        list(report.words.values()),
        [i18n.text(k, report.lang) for k in ("disclaimer", "notes")],
        "0123456789.,-+×·%—",
    ]


# --- HTML --------------------------------------------------------------------------------

_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",
"DejaVu Sans",Arial,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;
line-height:1.55;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #ddd}.muted{color:#666;font-size:.9rem}
.answer{background:#f4f7fb;border-left:4px solid #3b6ea8;padding:.5rem 1rem;margin:.5rem 0}
.reading{font-weight:600}.figure{width:100%}dl{display:grid;grid-template-columns:max-content auto;
gap:.1rem 1rem}dt{color:#555}dd{margin:0}
table{border-collapse:collapse;font-size:.85rem}th{text-align:left}
td,th{border-top:1px solid #eee;padding:.25rem .5rem;vertical-align:top}
.refs li{font-size:.85rem;margin:.2rem 0}.footer{color:#777;font-size:.8rem;margin-top:2rem}
@media print{.figure{page-break-inside:avoid}}
"""


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</`` to end it early)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")


def _json_ready(value: Any) -> Any:
    """Replace NaN and infinities (which JSON cannot hold) with ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _html_figure(figure: Mapping[str, Any], i: int) -> str:
    spec = _json_ready({"data": figure.get("data", []), "layout": figure.get("layout", {})})
    return (
        f'<div class="figure" id="figure-{i}"></div><script>'
        f'(function(f){{Plotly.newPlot("figure-{i}",f.data,f.layout,'
        "{displaylogo:false,responsive:true});})"
        f"({_script_json(spec)});</script>"
    )


def _html_rows(rows: Sequence[Row], lang: Lang) -> str:
    head = "".join(
        f"<th>{_esc(w)}</th>"
        for w in ("", i18n.text("sources", lang), i18n.text("sources_original", lang))
    )
    body = "".join(
        f"<tr><td><b>{_esc(r.name)}</b><br>{_esc(r.value)}</td>"
        f"<td>{_esc(', '.join(r.references))}</td><td>{_esc(r.source)}</td></tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report) -> str:
    """Return ``report`` as one self-contained HTML document.

    The plotly library's bundled script is written into the file; the figures are
    drawn from it, with no network access.
    """
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    words = report.words
    scenario = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in report.scenario)
    parts = [
        f'<!doctype html>\n<html lang="{"zh-CN" if report.lang == "zh" else "en"}"><head>',
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{_esc(report.title)}</title><style>{_CSS}</style>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        f'<h1>{_esc(report.title)}</h1><p class="muted">{_esc(report.subtitle)}</p>',
        f'<h2>{_esc(words["scenario"])}<span class="muted">{_esc(_named(report.scenario_name))}'
        "</span></h2>",
        f"<dl>{scenario}</dl>",
        f"<h2>{_esc(words['answers'])}</h2>",
    ]
    for question, answer in report.questions:
        parts.append(f'<div class="answer"><h3>{_esc(question)}</h3><p>{_esc(answer)}</p></div>')
    parts.append(f'<p class="muted">{_esc(i18n.text("disclaimer", report.lang))}</p>')
    for i, section in enumerate(report.sections):
        parts.append(f'<h2 id="{html.escape(section.key)}">{_esc(section.title)}</h2>')
        if section.figure:
            parts.append(_html_figure(section.figure, i))
        parts.append(f'<p class="reading">{_esc(section.reading)}</p>')
        if section.rows:
            parts.append(_html_rows(section.rows, report.lang))
    if report.notes:
        notes = "".join(f"<li>{_esc(n)}</li>" for n in report.notes)
        parts.append(f"<h2>{_esc(i18n.text('notes', report.lang))}</h2><ul>{notes}</ul>")
    parts.append(f'<h2>{_esc(words["references"])}</h2><ul class="refs">')
    for ref_id, line in report.sources.items():
        parts.append(f"<li><b>{_esc(ref_id)}</b> {_esc(line or words['not_listed'])}</li>")
    parts.append(f'</ul><p class="footer">mscsim {_esc(__version__)}</p></body></html>\n')
    return "\n".join(parts)


# --- assembling the report from the answers ----------------------------------------------

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "scenario": "The treatment",
        "answers": "The two questions",
        "dependence": "Will I become dependent on MSC therapy?",
        "several": "Why do I need several infusions?",
        "references": "References",
        "not_listed": "(not in the reference list of docs/MSC_EVIDENCE.md)",
        "no_answer": "These answers do not cover this question.",
    },
    "zh": {
        "scenario": "治疗方案",
        "answers": "两个问题",
        "dependence": "间充质干细胞治疗会让我产生依赖性吗？",
        "several": "为什么需要多次输注？",
        "references": "参考文献",
        "not_listed": "（不在 docs/MSC_EVIDENCE.md 的参考文献列表中）",
        "no_answer": "这些结果没有回答这个问题。",
    },
}
"""The report's own words: its headings and the patients' two questions as they ask
them. Everything else is the page's words (:mod:`mscsim.web.i18n`) or the answers'."""


def _check_lang(lang: str) -> Lang:
    if lang not in LANGUAGES:
        raise SpecError(f"--lang = {lang!r}: must be one of {', '.join(LANGUAGES)}")
    return i18n.check_lang(lang)


def _word(key: str, lang: Lang, fallback: str) -> str:
    return i18n.text(key, lang) if i18n.has_text(key) else fallback


def _amount(value: float, lang: Lang) -> str:
    return i18n.number(float(value), lang, 4)


def scenario_words(scenario: Mapping[str, Any], lang: str) -> tuple[tuple[str, str], ...]:
    """Return the scenario (as JSON, the shape of a scenario file) as labelled lines.

    The labels and the names of diseases, routes, sources and donors are the page's
    form words (:mod:`mscsim.web.i18n`).

    Examples
    --------
    >>> scenario = {"patient": {"weight_kg": 65}, "product": {"source": "bone_marrow",
    ...     "donor": "autologous"}, "dose": [{"route": "intramuscular", "cells": 1e8}]}
    >>> scenario_words(scenario, "en")[:2]
    (('Disease', 'none (cells only)'), ('Where the cells come from', 'bone marrow'))
    >>> dict(scenario_words(scenario, "zh"))["剂量"]
    '1亿（每次总细胞数）'
    """
    language = _check_lang(lang)

    def t(key: str) -> str:
        return i18n.text(key, language)

    disease = scenario.get("disease") or {}
    model = str(disease.get("model", "none"))
    named = _word(f"disease_{model}", language, model)
    if disease.get("genotype"):
        named += f" {disease['genotype']}" if language == "en" else f"，{disease['genotype']}"
    lines = [(t("disease"), named)]
    for key in ("baseline_score", "baseline_perfusion_ratio", "baseline_index"):
        if disease.get(key) is not None:
            lines.append((t("baseline"), _amount(disease[key], language)))
    product = scenario.get("product") or {}
    for key in ("source", "donor"):
        if product.get(key):
            lines.append((t(key), _word(f"{key}_{product[key]}", language, str(product[key]))))
    lot = product.get("lot")
    lot = lot if isinstance(lot, Mapping) else {}
    viability = (
        100 * product["viability"] if product.get("viability") else lot.get("viability_percent")
    )
    if viability:
        lines.append((t("viability"), _amount(viability, language)))
    weight = (scenario.get("patient") or {}).get("weight_kg")
    if weight is not None:
        lines.append((t("weight"), _amount(weight, language)))
    lines += _dose_words(scenario.get("dose") or [], language)
    horizon = (scenario.get("simulation") or {}).get("horizon_days")
    if horizon is not None:
        lines.append((t("horizon"), _amount(horizon, language)))
    return tuple(lines)


def _dose_words(doses: Sequence[Mapping[str, Any]], lang: Lang) -> list[tuple[str, str]]:
    def t(key: str) -> str:
        return i18n.text(key, lang)

    if not doses:
        return [(t("dose"), t("r_no_doses"))]
    lines = []
    for dose in doses:
        route = str(dose.get("route", ""))
        lines.append((t("route"), _word(f"route_{route}", lang, route)))
        per_kg = dose.get("cells_per_kg") is not None
        amount = i18n.cells(float(dose["cells_per_kg" if per_kg else "cells"]), lang)
        unit = t("dose_per_kg" if per_kg else "dose_total")
        lines.append((t("dose"), f"{amount} {unit}" if lang == "en" else f"{amount}（{unit}）"))
        lines.append((t("count"), str(dose.get("count", 1))))
        if dose.get("every_days"):
            lines.append((t("every_days"), _amount(dose["every_days"], lang)))
    return lines


def _rows(part: Mapping[str, Any]) -> tuple[Row, ...]:
    """Return the guesses of a section, then the sources it lists."""
    rows = [
        Row(
            str(g.get("name", "")),
            str(g.get("value", "")),
            tuple(g.get("references", ())),
            str(g.get("text", "")),
        )
        for g in part.get("guesses", []) or []
    ]
    rows += [
        Row("", "", tuple(s.get("references", ())), str(s.get("text", "")))
        for s in part.get("sources", []) or []
    ]
    return tuple(rows)


def _sections(answers: Mapping[str, Any]) -> list[Section]:
    """Return the answers' sections, in their order."""
    sections = []
    for part in answers.get("sections", []):
        figure = part.get("figure")
        sections.append(
            Section(
                key=str(part["id"]),
                title=str(part.get("title") or part["id"]),
                reading=str(part["reading"]),
                figure=figure if isinstance(figure, Mapping) and figure.get("data") else None,
                rows=_rows(part),
            )
        )
    return sections


def build_report(
    answers: Mapping[str, Any],
    lang: str,
    scenario_name: str,
    scenario: Mapping[str, Any] | None = None,
) -> Report:
    """Arrange the answers (:func:`mscsim.web.answers.answers`) as a report.

    Parameters
    ----------
    answers : Mapping
        The page's answers in ``lang``: ``title``, ``scenario``, ``sections`` (each
        ``id``, ``title``, ``figure``, ``reading`` and perhaps ``sources`` and
        ``guesses``) and ``warnings``.
    lang : {"en", "zh"}
    scenario_name : str
        The scenario's name (its file name), shown beside its description (if not empty).
    scenario : Mapping, optional
        The scenario as JSON, if not the answers' own ``scenario``.

    Raises
    ------
    SpecError
        For another language: ``--lang = 'fr': must be one of en, zh``.
    """
    language = _check_lang(lang)
    words = WORDS[language]
    sections = _sections(answers)
    by_key = {s.key: s for s in sections}
    questions = tuple(
        (words[q], by_key[key].reading if key in by_key else words["no_answer"])
        for q, key in QUESTIONS
    )
    return Report(
        lang=language,
        title=str(answers.get("title") or i18n.text("title", language)),
        subtitle=i18n.text("subtitle", language),
        scenario_name=scenario_name,
        scenario=scenario_words(scenario or answers.get("scenario") or {}, language),
        questions=questions,
        sections=tuple(sections),
        sources=reference_lines(cited_ids(answers.get("sections", []))),
        notes=tuple(str(w) for w in answers.get("warnings", []) or []),
        words=words,
    )


def report_text(
    scenario: Scenario,
    lang: str,
    scenario_name: str,
    *,
    resolution_day: float = REPORT_RESOLUTION_DAY,
) -> Report:
    """Compute the answers for ``scenario`` in ``lang`` and arrange them as a report.

    ``resolution_day``: the analysis grid (the page's is
    :data:`mscsim.web.answers.PAGE_RESOLUTION_DAY`).
    """
    from mscsim.web.answers import answers as compute_answers

    language = _check_lang(lang)
    found = compute_answers(scenario, language, resolution_day=resolution_day)
    # every field of the disease (the answers' copy drops the subclass's: pydantic
    # serialises a field by its declared type unless asked to serialise as any)
    spec = scenario.model_dump(mode="json", exclude_none=True, serialize_as_any=True)
    return build_report(found, language, scenario_name, spec)
