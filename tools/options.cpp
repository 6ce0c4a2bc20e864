#include "options.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "cotangent/core/error.hpp"

namespace ct::cli {

namespace {
/// Edit distance (insertions, deletions, substitutions) between two option names.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}
/// "lr" for "learning-rate": how people abbreviate hyphenated options.
std::string initials(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (i == 0 || name[i - 1] == '-') out += name[i];
  return out;
}
}  // namespace

Options::Options(std::string command, std::vector<Option> options)
    : command_(std::move(command)), options_(std::move(options)) {}

const Option* Options::find(const std::string& name) const {
  for (auto& o : options_)
    if (o.name == name) return &o;
  return nullptr;
}

std::string Options::suggestion(const std::string& name) const {
  const Option* best = nullptr;
  std::size_t best_distance = std::max<std::size_t>(2, name.size() / 3) + 1;
  for (auto& o : options_) {
    std::size_t d = distance(name, o.name);
    if (name.size() >= 2 && (initials(o.name) == name || o.name.rfind(name, 0) == 0)) d = 1;
    if (d < best_distance) best = &o, best_distance = d;
  }
  return best ? " (did you mean --" + best->name + "?)" : "";
}

void Options::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string argument = argv[i];
    // The short forms every command line has.
    if (argument == "-h") argument = "--help";
    if (argument == "-q") argument = "--quiet";
    if (argument == "-v") argument = "--verbose";
    CT_CHECK_AS(ValueError, argument.size() > 2 && argument.rfind("--", 0) == 0,
                "{}: unexpected argument '{}' (options start with --; see cotangent {} --help)",
                command_, argument, command_);
    std::string name = argument.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Option* option = find(name);
    CT_CHECK_AS(ValueError, option, "{}: unknown option --{}{}", command_, name, suggestion(name));
    if (option->kind == Option::Kind::flag) {
      CT_CHECK_AS(ValueError, !value, "{}: --{} takes no value", command_, name);
      values_[name] = "1";
      continue;
    }
    if (!value) {
      CT_CHECK_AS(ValueError, i + 1 < argc, "{}: --{} needs a value", command_, name);
      value = argv[++i];
    }
    check(*option, *value);
    values_[name] = *value;  // a later value wins, as with getopt: defaults can be overridden
  }
}

void Options::check(const Option& o, const std::string& value) const {
  auto fail = [&](const std::string& why) {
    bool plain = !value.empty() && value.find_first_of(" \t\n") == std::string::npos;
    throw ValueError(detail::format("{}: --{} {}: {}", command_, o.name,
                                    plain ? value : "'" + value + "'", why));
  };
  switch (o.kind) {
    case Option::Kind::flag:
      return;
    case Option::Kind::text:
      if (value.empty()) fail("an empty value");
      return;
    case Option::Kind::choice: {
      if (std::find(o.choices.begin(), o.choices.end(), value) != o.choices.end()) return;
      std::string list;
      for (auto& c : o.choices) list += (list.empty() ? "" : ", ") + c;
      fail("not one of " + list);
      return;
    }
    case Option::Kind::integer: {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(value.c_str(), &end, 10);
      bool whole = !value.empty() && end && *end == 0 && !std::isspace((unsigned char)value[0]);
      if (!whole) fail("not a whole number");
      // A bound of 2^63 or more (the largest int64, as a double) is no bound: say "at least".
      bool unbounded = o.high >= 0x1p63;
      if (errno == ERANGE || double(v) < o.low || double(v) > o.high)
        fail(unbounded ? detail::format("out of range (at least {})", std::int64_t(o.low))
                       : detail::format("out of range (from {} to {})", std::int64_t(o.low),
                                        std::int64_t(o.high)));
      return;
    }
    case Option::Kind::number: {
      errno = 0;
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      bool whole = !value.empty() && end && *end == 0 && !std::isspace((unsigned char)value[0]);
      if (!whole) fail("not a number");
      if (!std::isfinite(v)) fail("not a finite number");
      if (v < o.low || (o.low_open && v == o.low) || v > o.high)
        fail(detail::format("out of range ({} {} to {})", o.low_open ? "above" : "from", o.low,
                            o.high));
      return;
    }
  }
}

std::string Options::text(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}
std::int64_t Options::integer(const std::string& name, std::int64_t fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : std::strtoll(it->second.c_str(), nullptr, 10);
}
double Options::number(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : std::strtod(it->second.c_str(), nullptr);
}

std::string Options::usage() const {
  std::ostringstream out;
  for (auto& o : options_) {
    std::string left = "  --" + o.name;
    std::string help = o.help;
    if (auto space = help.find("  "); space != std::string::npos && o.kind != Option::Kind::flag) {
      left += " " + help.substr(0, space);
      help = help.substr(space + 2);
    }
    out << left << std::string(left.size() < 34 ? 34 - left.size() : 1, ' ') << help << "\n";
  }
  return out.str();
}

}  // namespace ct::cli
