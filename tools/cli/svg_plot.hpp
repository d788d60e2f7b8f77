// Small scatter plots written as SVG text (no plotting library): panels side
// by side, each with axes, "nice" ticks and labelled points joined in order.
#pragma once

#include <string>
#include <vector>

namespace sparq::cli {

struct PlotPoint {
  double x = 0;
  double y = 0;
  std::string label;
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotPoint> points;  // joined by a line in this order
};

// A standalone SVG document. Panels with no points are drawn empty.
std::string svg_scatter(const std::vector<PlotPanel>& panels, const std::string& title);

// Tick values covering [lo, hi] at a 1/2/5 x 10^n step, about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace sparq::cli
