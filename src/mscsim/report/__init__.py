"""Reports and figures for people: plots of simulation results."""

from mscsim.report.plots import FIGURE_FORMATS, plot_cells

__all__ = ["FIGURE_FORMATS", "plot_cells"]
