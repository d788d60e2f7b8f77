// A minimal line chart written as SVG text (no plotting library needed).
#pragma once

#include <string>
#include <vector>

namespace sparq::training {

struct PlotSeries {
  std::string label;
  std::string color;  // any SVG color
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
};

// Axes, ticks, grid, one polyline with markers per series, and a legend.
std::string render_svg_plot(const PlotSpec& plot);

}  // namespace sparq::training
