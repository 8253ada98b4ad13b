"""Plots (PNG files, matplotlib on the Agg backend): training curves, confusion matrices,
image grids, optimizer trajectories on loss contours, attention maps; and computational-graph
drawing (Graphviz DOT)."""
from .attention import plot_attention, plot_attention_grid, record_attention
from .confusion import plot_confusion_matrix
from .contour import plot_loss_panels, plot_trajectories
from .curves import plot_curve_grid, plot_overlaid_curves, plot_training_curves
from .graph import Graph, GraphvizNotFoundError, draw_graph, draw_model, trace_modules
from .image_grid import plot_image_grid

__all__ = [
    "plot_confusion_matrix", "plot_image_grid", "plot_curve_grid", "plot_loss_panels", "plot_overlaid_curves", "plot_trajectories",
    "plot_training_curves", "record_attention", "plot_attention", "plot_attention_grid",
    "Graph", "GraphvizNotFoundError", "draw_graph", "draw_model", "trace_modules",
]
