#include "workers/observability/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace iii::obs {
namespace {

bool name_char(char c, bool first, bool colon_allowed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c == ':') return colon_allowed;
  return !first && c >= '0' && c <= '9';
}

std::string sanitize(std::string_view name, bool colon_allowed) {
  if (name.empty()) return "_";
  std::string out;
  out.reserve(name.size() + 1);
  // A leading digit is kept (it may carry meaning) behind an underscore.
  if (name[0] >= '0' && name[0] <= '9') out += '_';
  for (char c : name) out += name_char(c, out.empty(), colon_allowed) ? c : '_';
  return out;
}

// HELP text escapes backslash and newline only (quotes are fine there).
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string PrometheusText::sanitize_metric_name(std::string_view name) { return sanitize(name, true); }
std::string PrometheusText::sanitize_label_name(std::string_view name) { return sanitize(name, false); }

std::string PrometheusText::escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string PrometheusText::format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counts and byte sizes are whole numbers: print them as such, never as 1.2e+07.
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", value == 0 ? 0.0 : value);  // no "-0"
    return buf;
  }
  // Otherwise the shortest text that reads back as the same double (Go's ParseFloat accepts it).
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

PrometheusText& PrometheusText::counter(std::string_view name, std::string_view help) {
  return declare(name, help, "counter");
}
PrometheusText& PrometheusText::gauge(std::string_view name, std::string_view help) {
  return declare(name, help, "gauge");
}
PrometheusText& PrometheusText::histogram(std::string_view name, std::string_view help) {
  return declare(name, help, "histogram");
}

PrometheusText& PrometheusText::declare(std::string_view name, std::string_view help, std::string_view type) {
  std::string clean = sanitize_metric_name(name);
  for (size_t i = 0; i < families_.size(); ++i) {
    if (families_[i].name == clean) {
      current_ = i;
      return *this;
    }
  }
  Family family{std::move(clean), {}, {}};
  family.header = "# HELP " + family.name + ' ' + escape_help(help) + "\n# TYPE " + family.name + ' ' +
                  std::string(type) + '\n';
  families_.push_back(std::move(family));
  current_ = families_.size() - 1;
  return *this;
}

PrometheusText::Family& PrometheusText::current(std::string_view sample_name) {
  if (current_ == SIZE_MAX) {
    std::string name = sanitize_metric_name(sample_name.starts_with('_') ? sample_name.substr(1) : sample_name);
    families_.push_back(Family{name, "# TYPE " + name + " untyped\n", {}});
    current_ = families_.size() - 1;
  }
  return families_[current_];
}

std::string PrometheusText::sample_name(const Family& family, std::string_view name) const {
  if (name.empty()) return family.name;
  if (name.starts_with('_')) return family.name + sanitize_metric_name(name);
  return sanitize_metric_name(name);
}

void PrometheusText::append_sample(std::string& out, const std::string& name, const Labels& labels,
                                   const std::pair<std::string, std::string>* extra, std::string_view value) {
  out += name;
  if (!labels.empty() || extra) {
    char separator = '{';
    auto label = [&](const std::string& key, const std::string& val) {
      out += separator;
      separator = ',';
      out += sanitize_label_name(key);
      out += "=\"";
      out += escape_label_value(val);
      out += '"';
    };
    for (const auto& [key, val] : labels) label(key, val);
    if (extra) label(extra->first, extra->second);
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

PrometheusText& PrometheusText::sample(std::string_view name, const Labels& labels, double value) {
  Family& family = current(name);
  append_sample(family.samples, sample_name(family, name), labels, nullptr, format_value(value));
  return *this;
}

PrometheusText& PrometheusText::histogram_samples(std::string_view name, const Labels& labels,
                                                  const std::vector<double>& upper_bounds,
                                                  const std::vector<uint64_t>& cumulative_counts, double sum,
                                                  uint64_t count) {
  if (upper_bounds.size() != cumulative_counts.size())
    throw std::invalid_argument("histogram_samples: " + std::to_string(upper_bounds.size()) + " bounds but " +
                                std::to_string(cumulative_counts.size()) + " counts");
  Family& family = current(name);
  const std::string base = sample_name(family, name);
  const std::string bucket = base + "_bucket";
  std::pair<std::string, std::string> le{"le", ""};
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (std::isinf(upper_bounds[i]) && upper_bounds[i] > 0) continue;  // written below, from `count`
    le.second = format_value(upper_bounds[i]);
    append_sample(family.samples, bucket, labels, &le, std::to_string(cumulative_counts[i]));
  }
  le.second = "+Inf";
  // Counts are written as integers, exact past 2^53 where a double would round.
  append_sample(family.samples, bucket, labels, &le, std::to_string(count));
  append_sample(family.samples, base + "_sum", labels, nullptr, format_value(sum));
  append_sample(family.samples, base + "_count", labels, nullptr, std::to_string(count));
  return *this;
}

std::string PrometheusText::finish() {
  std::string out;
  for (const Family& family : families_) {
    out += family.header;
    out += family.samples;
  }
  families_.clear();
  current_ = SIZE_MAX;
  return out;
}

}  // namespace iii::obs
