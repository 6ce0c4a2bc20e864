#pragma once
// A command's options, declared once with their kind and range: parsing rejects an unknown
// option (suggesting the nearest known one), a missing value, and a value that is not a whole,
// finite number in range, each with a message that names the option. Given twice, the later
// value wins, so a script's defaults can be overridden after them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ct::cli {

struct Option {
  enum class Kind { flag, integer, number, text, choice };
  std::string name;  // without the dashes: "batch-size"
  Kind kind = Kind::text;
  std::string help;                  // "B  examples per step (default 128)"
  double low = 0, high = 0;          // integer and number: the accepted range, inclusive
  bool low_open = false;             // number: the range excludes `low` (a rate > 0)
  std::vector<std::string> choices;  // choice: the accepted words
};

class Options {
 public:
  Options(std::string command, std::vector<Option> options);

  /// Parses argv[first..argc); throws ValueError on the first bad argument.
  void parse(int argc, char** argv, int first);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string text(const std::string& name, const std::string& fallback = "") const;
  std::int64_t integer(const std::string& name, std::int64_t fallback) const;
  double number(const std::string& name, double fallback) const;
  /// The usage lines of every option.
  std::string usage() const;

 private:
  const Option* find(const std::string& name) const;
  std::string suggestion(const std::string& name) const;
  void check(const Option& option, const std::string& value) const;

  std::string command_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;
};

}  // namespace ct::cli
