#pragma once
// How big a model is: its parameter count, and a table of its parameters.
//
//   std::cout << ct::summary(model);   // one row per parameter, then the total
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "cotangent/autodiff/fields.hpp"

namespace ct {

/// The number of trainable scalars in the model (its parameters' elements).
template <class Model>
std::int64_t parameter_count(const Model& model) {
  std::int64_t total = 0;
  for_each_parameter([&](const auto& p) { total += p.shape().count(); }, model);
  return total;
}

/// A table of the model's parameters: path ("conv1a/filter"), shape, dtype and count, then the
/// total.
template <class Model>
std::string summary(const Model& model) {
  struct Row {
    std::string path, shape, dtype;
    std::int64_t count;
  };
  std::vector<Row> rows;
  std::size_t width = 9;  // "parameter"
  for_each_named_parameter(
      [&](const std::string& path, const auto& p) {
        std::ostringstream shape;
        shape << p.shape();
        rows.push_back({path, shape.str(), std::string(dtype_name(p.dtype())), p.shape().count()});
        width = std::max(width, path.size());
      },
      "", model);
  std::ostringstream out;
  out << std::left << std::setw(int(width)) << "parameter"
      << "  " << std::setw(16) << "shape" << std::setw(9) << "dtype" << std::right << std::setw(12)
      << "count" << '\n';
  for (const Row& r : rows)
    out << std::left << std::setw(int(width)) << r.path << "  " << std::setw(16) << r.shape
        << std::setw(9) << r.dtype << std::right << std::setw(12) << r.count << '\n';
  out << std::left << std::setw(int(width)) << "total"
      << "  " << std::setw(25) << "" << std::right << std::setw(12) << parameter_count(model)
      << '\n';
  return out.str();
}

}  // namespace ct
