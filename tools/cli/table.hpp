// Column-aligned text tables and markdown tables for command output. Columns
// whose cells all look numeric are right-aligned.
#pragma once

#include <string>
#include <vector>

namespace sparq::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add_row(std::vector<std::string> cells);
  // Plain text: a header line, a rule, one line per row.
  std::string text() const;
  // GitHub-flavoured markdown.
  std::string markdown() const;

 private:
  std::vector<bool> numeric_columns() const;
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace sparq::cli
