#include "tools/cli/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

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

void draw_panel(std::ostringstream& svg, const PlotPanel& panel, double x0) {
  const double w = kPanelWidth - kLeft - kRight, h = kPanelHeight - kTop - kBottom;
  const double left = x0 + kLeft, top = kTop;
  double xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  if (!panel.points.empty()) {
    auto [xmin, xmax] = std::minmax_element(panel.points.begin(), panel.points.end(),
                                            [](auto& a, auto& b) { return a.x < b.x; });
    auto [ymin, ymax] = std::minmax_element(panel.points.begin(), panel.points.end(),
                                            [](auto& a, auto& b) { return a.y < b.y; });
    xlo = xmin->x, xhi = xmax->x, ylo = ymin->y, yhi = ymax->y;
  }
  const std::vector<double> xt = nice_ticks(xlo, xhi, 5), yt = nice_ticks(ylo, yhi, 5);
  xlo = xt.front(), xhi = xt.back(), ylo = yt.front(), yhi = yt.back();
  auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * w; };
  auto py = [&](double y) { return top + h - (y - ylo) / (yhi - ylo) * h; };

  svg << "<text x=\"" << coord(left + w / 2) << "\" y=\"" << coord(top - 16)
      << "\" text-anchor=\"middle\" font-weight=\"bold\">" << escape(panel.title) << "</text>\n";
  svg << "<rect x=\"" << coord(left) << "\" y=\"" << coord(top) << "\" width=\"" << coord(w)
      << "\" height=\"" << coord(h) << "\" fill=\"none\" stroke=\"#444\"/>\n";
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
  if (panel.points.size() > 1) {
    svg << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
    for (const auto& p : panel.points) svg << coord(px(p.x)) << "," << coord(py(p.y)) << " ";
    svg << "\"/>\n";
  }
  for (const auto& p : panel.points) {
    svg << "<circle cx=\"" << coord(px(p.x)) << "\" cy=\"" << coord(py(p.y))
        << "\" r=\"4\" fill=\"#1f77b4\"/>\n"
        << "<text x=\"" << coord(px(p.x) + 6) << "\" y=\"" << coord(py(p.y) - 6) << "\">"
        << escape(p.label) << "</text>\n";
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
  std::vector<double> ticks;
  for (double t = std::floor(lo / step) * step; t < hi + step * 0.5; t += step) {
    ticks.push_back(t);
    if (t >= hi) break;
  }
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

std::string svg_scatter(const std::vector<PlotPanel>& panels, const std::string& title) {
  std::ostringstream svg;
  const double width = kPanelWidth * static_cast<double>(std::max<size_t>(panels.size(), 1));
  const double height = kPanelHeight + 24;
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
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace sparq::cli
