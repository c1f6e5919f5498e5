"""Reports and figures for people: plots of simulation results."""

from mscsim.report.plots import FIGURE_FORMATS, check_figure_path, plot_cells
from mscsim.report.summary import cell_summary

__all__ = ["FIGURE_FORMATS", "cell_summary", "check_figure_path", "plot_cells"]
