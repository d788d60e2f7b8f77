// Small scatter plots written as SVG text (no plotting library): panels side
// by side, each with a frame, "nice" ticks and labelled markers, one colour
// and marker shape per series, a line through each series' points, and a
// legend naming the series. The frame's range pads the data on every side, so
// every marker lies wholly inside its frame.
//
// The elements a reader (or a test) can find: each panel's frame is
// <rect class="frame" ...>; each marker is <circle class="marker"
// data-series="S" cx cy r> or <path class="marker" data-series="S"
// d="M cx cy m ..."> (the path's first move is the marker's centre); each
// series line is <polyline class="series" data-series="S" points="...">.
// Panels are each one <g> group; the legend (markers of class
// "legend-marker") lies outside them.
#pragma once

#include <string>
#include <vector>

namespace sparq::cli {

struct PlotPoint {
  double x = 0;
  double y = 0;
  std::string label;
  int series = 0;  // index into the plot's series names
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  // The points of one series are joined by a line in this order; points of
  // different series never are.
  std::vector<PlotPoint> points;
};

// A standalone SVG document. Panels with no points are drawn empty. Throws
// std::invalid_argument for a point whose series has no name.
std::string svg_scatter(const std::vector<PlotPanel>& panels,
                        const std::vector<std::string>& series_names, const std::string& title);

// Tick values covering [lo, hi] at a 1/2/5 x 10^n step, about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace sparq::cli
