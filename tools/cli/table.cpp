#include "tools/cli/table.hpp"

#include <algorithm>
#include <cctype>

#include "sparq/error.hpp"

namespace sparq::cli {
namespace {

// Display width in code points (labels and units may carry UTF-8).
size_t display_width(const std::string& s) {
  size_t width = 0;
  for (unsigned char c : s) width += (c & 0xC0) != 0x80;
  return width;
}

bool looks_numeric(const std::string& s) {
  if (s.empty() || s == "-") return true;
  const unsigned char first = static_cast<unsigned char>(s[0]);
  return std::isdigit(first) || ((first == '-' || first == '+' || first == '.') && s.size() > 1);
}

std::string pad(const std::string& s, size_t width, bool right) {
  const size_t fill = width > display_width(s) ? width - display_width(s) : 0;
  return right ? std::string(fill, ' ') + s : s + std::string(fill, ' ');
}

}  // namespace

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != headers_.size()) {
    throw Error(ErrorCode::kInternal, "table row has " + std::to_string(cells.size()) +
                                          " cells for " + std::to_string(headers_.size()) +
                                          " columns");
  }
  rows_.push_back(std::move(cells));
}

std::vector<bool> Table::numeric_columns() const {
  std::vector<bool> numeric(headers_.size(), true);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) numeric[c] = numeric[c] && looks_numeric(row[c]);
  }
  return numeric;
}

std::string Table::text() const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = display_width(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  const std::vector<bool> numeric = numeric_columns();
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out += "  ";
      out += pad(cells[c], widths[c], numeric[c]);
    }
    out.erase(out.find_last_not_of(' ') + 1);
    return out + "\n";
  };
  std::string out = line(headers_);
  size_t total = 0;
  for (size_t w : widths) total += w;
  out += std::string(total + 2 * (widths.size() - 1), '-') + "\n";
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string Table::markdown() const {
  const std::vector<bool> numeric = numeric_columns();
  std::string out = "|";
  for (const auto& h : headers_) out += " " + h + " |";
  out += "\n|";
  for (size_t c = 0; c < headers_.size(); ++c) out += numeric[c] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : rows_) {
    out += "|";
    for (const auto& cell : row) out += " " + cell + " |";
    out += "\n";
  }
  return out;
}

}  // namespace sparq::cli
