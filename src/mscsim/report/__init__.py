"""Reports and figures for people: plots of simulation results."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.report.plots import FIGURE_FORMATS, check_figure_path, plot_cells
    from mscsim.report.summary import cell_summary

__all__ = ["FIGURE_FORMATS", "cell_summary", "check_figure_path", "plot_cells"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "plots": ["FIGURE_FORMATS", "check_figure_path", "plot_cells"],
        "summary": ["cell_summary"],
    },
)
