"""Reports and figures for people: plots of simulation results."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.report.analysis_plots import plot_comparison, plot_trial, plot_withdrawal
    from mscsim.report.plots import (
        FIGURE_FORMATS,
        check_figure_path,
        plot_cells,
        plot_scenario,
        save_figure,
    )
    from mscsim.report.summary import cell_summary, course_cell_summary

__all__ = [
    "FIGURE_FORMATS",
    "cell_summary",
    "check_figure_path",
    "course_cell_summary",
    "plot_cells",
    "plot_comparison",
    "plot_scenario",
    "plot_trial",
    "plot_withdrawal",
    "save_figure",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "analysis_plots": ["plot_comparison", "plot_trial", "plot_withdrawal"],
        "plots": [
            "FIGURE_FORMATS",
            "check_figure_path",
            "plot_cells",
            "plot_scenario",
            "save_figure",
        ],
        "summary": ["cell_summary", "course_cell_summary"],
    },
)
