#include "sparq_training/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace sparq::training {
namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks.
double tick_step(double span, int count) {
  const double raw = span / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

std::string render_svg_plot(const PlotSpec& plot) {
  const double width = 760, height = 480;
  const double left = 70, right = 220, top = 50, bottom = 60;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x_min = std::numeric_limits<double>::max(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const auto& s : plot.series) {
    for (auto [x, y] : s.points) {
      x_min = std::min(x_min, x), x_max = std::max(x_max, x);
      y_min = std::min(y_min, y), y_max = std::max(y_max, y);
    }
  }
  if (x_min > x_max) x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  if (x_max - x_min < 1e-9) x_max = x_min + 1;
  if (y_max - y_min < 1e-9) y_max = y_min + 1;
  const double y_tick = tick_step(y_max - y_min, 6);
  y_min = std::floor(y_min / y_tick) * y_tick;
  y_max = std::ceil(y_max / y_tick) * y_tick;
  const double x_tick = tick_step(x_max - x_min, 8);
  auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * plot_w; };
  auto py = [&](double y) { return top + (1 - (y - y_min) / (y_max - y_min)) * plot_h; };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left + plot_w / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">"
      << escape(plot.title) << "</text>\n";
  for (double y = y_min; y <= y_max + y_tick / 2; y += y_tick) {
    svg << "<line x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\"" << py(y) << "\" y2=\""
        << py(y) << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << left - 8 << "\" y=\"" << py(y) + 4 << "\" text-anchor=\"end\">"
        << number(y) << "</text>\n";
  }
  for (double x = std::ceil(x_min / x_tick) * x_tick; x <= x_max + 1e-9; x += x_tick) {
    char label[32];
    std::snprintf(label, sizeof label, "%.2g", x);
    svg << "<line x1=\"" << px(x) << "\" x2=\"" << px(x) << "\" y1=\"" << top << "\" y2=\""
        << top + plot_h << "\" stroke=\"#eee\"/>\n"
        << "<text x=\"" << px(x) << "\" y=\"" << top + plot_h + 18 << "\" text-anchor=\"middle\">"
        << label << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"#333\"/>\n"
      << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << height - 15
      << "\" text-anchor=\"middle\">" << escape(plot.x_label) << "</text>\n"
      << "<text transform=\"translate(20," << top + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(plot.y_label) << "</text>\n";
  double legend_y = top + 10;
  for (const auto& s : plot.series) {
    std::string points;
    for (auto [x, y] : s.points) points += number(px(x)) + "," + number(py(y)) + " ";
    const std::string dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
    svg << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash
        << " points=\"" << points << "\"/>\n";
    for (auto [x, y] : s.points) {
      svg << "<circle cx=\"" << number(px(x)) << "\" cy=\"" << number(py(y)) << "\" r=\"3\" fill=\""
          << s.color << "\"/>\n";
    }
    const double lx = left + plot_w + 15;
    svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 28 << "\" y1=\"" << legend_y << "\" y2=\""
        << legend_y << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash << "/>\n"
        << "<text x=\"" << lx + 34 << "\" y=\"" << legend_y + 4 << "\">" << escape(s.label)
        << "</text>\n";
    legend_y += 20;
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace sparq::training
