#include "tools/cli/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace sparq::cli {
namespace {

constexpr double kPanelWidth = 420, kPanelHeight = 320;
constexpr double kLeft = 64, kRight = 20, kTop = 52, kBottom = 48;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", std::abs(v) < 1e-12 ? 0.0 : v);
  return buffer;
}

std::string coord(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

// One colour and one marker shape per series; (colour, shape) pairs repeat
// only after kColours x kShapes series.
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                    "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};
constexpr int kColourCount = 8, kShapeCount = 5;
constexpr double kMarkerRadius = 4;
constexpr double kLegendRow = 18, kLegendColumn = 280;

const char* colour_of(int series) {
  return kColours[series % kColourCount];
}

// The marker of `series` centred on (x, y): a circle, square, triangle,
// diamond or inverted triangle, each about 2 * kMarkerRadius across.
// `role` is its class: "marker" for data, "legend-marker" in the legend.
void draw_marker(std::ostringstream& svg, const char* role, int series, double x, double y) {
  const double r = kMarkerRadius;
  const int shape = series % kShapeCount;
  if (shape == 0) {
    svg << "<circle class=\"" << role << "\" data-series=\"" << series << "\" cx=\"" << coord(x)
        << "\" cy=\"" << coord(y) << "\" r=\"" << coord(r) << "\" fill=\"" << colour_of(series)
        << "\"/>\n";
    return;
  }
  // The first move is to the centre (nothing is drawn by it), then the
  // outline relative to it: readers find the centre without geometry.
  static const char* const kOutlines[] = {
      "",
      "m -4 -4 h 8 v 8 h -8 z",         // square
      "m 0 -5 l 4.5 8 h -9 z",          // triangle
      "m 0 -5 l 5 5 l -5 5 l -5 -5 z",  // diamond
      "m 0 5 l 4.5 -8 h -9 z",          // inverted triangle
  };
  svg << "<path class=\"" << role << "\" data-series=\"" << series << "\" d=\"M " << coord(x) << " "
      << coord(y) << " " << kOutlines[shape] << "\" fill=\"" << colour_of(series) << "\"/>\n";
}

// The axis range for values in [lo, hi]: padded by 6 % of the span on each
// side (or by 10 % of the value, or 1, when all values are equal) so no
// marker touches the frame, then widened to "nice" ticks.
std::vector<double> padded_ticks(double lo, double hi) {
  double pad = (hi - lo) * 0.06;
  if (!(pad > 0)) pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
  return nice_ticks(lo - pad, hi + pad, 5);
}

// A point's label: where its text starts (or ends, right-aligned) and the
// box it covers, estimated at 6.5 px a character of the 12 px font.
struct LabelBox {
  double anchor_x = 0, baseline = 0;
  bool right_aligned = false;
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

bool overlaps(const LabelBox& a, const LabelBox& b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// Beside the marker at (x, y), right of it then left of it, just above, just
// below, one line higher, one line lower: the first spot that stays in the
// frame's width and clears the labels already placed (else the first that
// stays in the frame), so labels of nearby points do not print over each other.
LabelBox place_label(const std::string& label, double x, double y, double frame_left,
                     double frame_right, const std::vector<LabelBox>& placed) {
  const double width = 6.5 * static_cast<double>(label.size()), height = 12;
  std::vector<LabelBox> candidates;
  for (bool right_aligned : {false, true}) {
    for (double dy : {-6.0, 16.0, -18.0, 28.0}) {
      LabelBox box;
      box.right_aligned = right_aligned;
      box.anchor_x = right_aligned ? x - 6 : x + 6;
      box.baseline = y + dy;
      box.x0 = right_aligned ? box.anchor_x - width : box.anchor_x;
      box.x1 = box.x0 + width;
      box.y0 = box.baseline - height + 2, box.y1 = box.baseline + 2;
      candidates.push_back(box);
    }
  }
  const LabelBox* fallback = nullptr;
  for (const LabelBox& box : candidates) {
    if (box.x0 < frame_left || box.x1 > frame_right) continue;
    if (!fallback) fallback = &box;
    if (std::none_of(placed.begin(), placed.end(),
                     [&](const LabelBox& other) { return overlaps(box, other); })) {
      return box;
    }
  }
  return fallback ? *fallback : candidates.front();
}

void draw_panel(std::ostringstream& svg, const PlotPanel& panel, double x0) {
  const double w = kPanelWidth - kLeft - kRight, h = kPanelHeight - kTop - kBottom;
  const double left = x0 + kLeft, top = kTop;
  std::vector<const PlotPoint*> shown;  // the finite points
  for (const auto& p : panel.points) {
    if (std::isfinite(p.x) && std::isfinite(p.y)) shown.push_back(&p);
  }
  double xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  if (!shown.empty()) {
    xlo = xhi = shown.front()->x, ylo = yhi = shown.front()->y;
    for (const PlotPoint* p : shown) {
      xlo = std::min(xlo, p->x), xhi = std::max(xhi, p->x);
      ylo = std::min(ylo, p->y), yhi = std::max(yhi, p->y);
    }
  }
  const std::vector<double> xt = padded_ticks(xlo, xhi), yt = padded_ticks(ylo, yhi);
  xlo = xt.front(), xhi = xt.back(), ylo = yt.front(), yhi = yt.back();
  auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * w; };
  auto py = [&](double y) { return top + h - (y - ylo) / (yhi - ylo) * h; };

  svg << "<text x=\"" << coord(left + w / 2) << "\" y=\"" << coord(top - 16)
      << "\" text-anchor=\"middle\" font-weight=\"bold\">" << escape(panel.title) << "</text>\n";
  svg << "<rect class=\"frame\" x=\"" << coord(left) << "\" y=\"" << coord(top) << "\" width=\""
      << coord(w) << "\" height=\"" << coord(h) << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double t : xt) {
    svg << "<line x1=\"" << coord(px(t)) << "\" y1=\"" << coord(top) << "\" x2=\"" << coord(px(t))
        << "\" y2=\"" << coord(top + h) << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << coord(px(t)) << "\" y=\"" << coord(top + h + 16)
        << "\" text-anchor=\"middle\">" << number(t) << "</text>\n";
  }
  for (double t : yt) {
    svg << "<line x1=\"" << coord(left) << "\" y1=\"" << coord(py(t)) << "\" x2=\""
        << coord(left + w) << "\" y2=\"" << coord(py(t)) << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << coord(left - 6) << "\" y=\"" << coord(py(t) + 4)
        << "\" text-anchor=\"end\">" << number(t) << "</text>\n";
  }
  svg << "<text x=\"" << coord(left + w / 2) << "\" y=\"" << coord(top + h + 36)
      << "\" text-anchor=\"middle\">" << escape(panel.x_label) << "</text>\n";
  svg << "<text transform=\"translate(" << coord(x0 + 16) << " " << coord(top + h / 2)
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(panel.y_label) << "</text>\n";
  // One line per series, through its own points only.
  std::vector<int> series;
  for (const PlotPoint* p : shown) {
    if (std::find(series.begin(), series.end(), p->series) == series.end())
      series.push_back(p->series);
  }
  for (int s : series) {
    std::ostringstream line;
    int count = 0;
    for (const PlotPoint* p : shown) {
      if (p->series != s) continue;
      line << coord(px(p->x)) << "," << coord(py(p->y)) << " ";
      ++count;
    }
    if (count < 2) continue;
    svg << "<polyline class=\"series\" data-series=\"" << s << "\" fill=\"none\" stroke=\""
        << colour_of(s) << "\" stroke-width=\"1.5\" points=\"" << line.str() << "\"/>\n";
  }
  std::vector<LabelBox> placed;
  for (const PlotPoint* p : shown) {
    draw_marker(svg, "marker", p->series, px(p->x), py(p->y));
    const LabelBox box = place_label(p->label, px(p->x), py(p->y), left, left + w, placed);
    placed.push_back(box);
    svg << "<text x=\"" << coord(box.anchor_x) << "\" y=\"" << coord(box.baseline) << "\""
        << (box.right_aligned ? " text-anchor=\"end\"" : "") << ">" << escape(p->label)
        << "</text>\n";
  }
}

// The series names under the panels, each next to its marker and colour.
void draw_legend(std::ostringstream& svg, const std::vector<std::string>& names, double width,
                 double top) {
  const int per_row = std::max(1, static_cast<int>(width / kLegendColumn));
  for (size_t i = 0; i < names.size(); ++i) {
    const int s = static_cast<int>(i);
    const double x = 24 + kLegendColumn * (s % per_row);
    const double y = top + kLegendRow * (s / per_row);
    svg << "<line x1=\"" << coord(x - 10) << "\" y1=\"" << coord(y) << "\" x2=\"" << coord(x + 10)
        << "\" y2=\"" << coord(y) << "\" stroke=\"" << colour_of(s)
        << "\" stroke-width=\"1.5\"/>\n";
    draw_marker(svg, "legend-marker", s, x, y);
    svg << "<text x=\"" << coord(x + 16) << "\" y=\"" << coord(y + 4) << "\">" << escape(names[i])
        << "</text>\n";
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0, 1.0};
  if (!(hi > lo)) {  // one point, or all equal: a unit-wide window around it
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / std::max(count - 1, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  // Whole steps from the one at or below lo to the one at or above hi, so the
  // ticks always cover [lo, hi] (counting steps, not adding them, so rounding
  // cannot stop short of hi). A span too narrow for doubles to resolve
  // still gets a bounded number of ticks.
  const double first = std::floor(lo / step);
  const double steps = std::clamp(std::ceil(hi / step) - first, 1.0, 4.0 * std::max(count, 2));
  std::vector<double> ticks;
  for (int i = 0; i <= static_cast<int>(steps); ++i) ticks.push_back((first + i) * step);
  return ticks;
}

std::string svg_scatter(const std::vector<PlotPanel>& panels,
                        const std::vector<std::string>& series_names, const std::string& title) {
  for (const auto& panel : panels) {
    for (const auto& p : panel.points) {
      if (p.series < 0 || p.series >= static_cast<int>(series_names.size())) {
        throw std::invalid_argument("svg_scatter: point '" + p.label + "' has series " +
                                    std::to_string(p.series) + " of " +
                                    std::to_string(series_names.size()));
      }
    }
  }
  std::ostringstream svg;
  const double width = kPanelWidth * static_cast<double>(std::max<size_t>(panels.size(), 1));
  const int per_row = std::max(1, static_cast<int>(width / kLegendColumn));
  const double legend_rows = static_cast<double>(
      (series_names.size() + static_cast<size_t>(per_row) - 1) / static_cast<size_t>(per_row));
  const double legend_top = kPanelHeight + 24;
  const double height = legend_top + kLegendRow * legend_rows + 8;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << coord(width) << "\" height=\""
      << coord(height) << "\" viewBox=\"0 0 " << coord(width) << " " << coord(height)
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << coord(width / 2) << "\" y=\"18\" text-anchor=\"middle\" "
      << "font-size=\"14\" font-weight=\"bold\">" << escape(title) << "</text>\n";
  for (size_t i = 0; i < panels.size(); ++i) {
    svg << "<g transform=\"translate(0 12)\">\n";
    draw_panel(svg, panels[i], kPanelWidth * static_cast<double>(i));
    svg << "</g>\n";
  }
  draw_legend(svg, series_names, width, legend_top);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace sparq::cli
