# The names mscsim.report exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .analysis_plots import plot_comparison, plot_trial, plot_withdrawal
from .plots import FIGURE_FORMATS, check_figure_path, plot_cells, plot_scenario, save_figure
from .summary import cell_summary, course_cell_summary

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
