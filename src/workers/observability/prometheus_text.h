// PrometheusText: builds a page in the Prometheus text exposition format 0.0.4 (what GET /metrics
// answers). A family is declared with counter(), gauge() or histogram(), which writes its
// `# HELP` and `# TYPE` lines the first time; samples then belong to the family declared last.
//
//   PrometheusText page;
//   page.counter("iii_invocations_total", "Invocations routed")
//       .sample("", {{"function", "math.add"}}, 42);
//   page.histogram("iii_invocation_seconds", "Invocation latency")
//       .histogram_samples("", {}, {0.005, 0.1}, {3, 7}, 0.42, 9);
//   std::string text = page.finish();
//
// Samples are grouped under their family when the page is finished, whatever order they were added
// in, as the format requires. Metric and label names are sanitized into the allowed alphabet (an
// invalid character becomes '_'), label values and help texts escaped, values spelled the way
// Prometheus parses them ("+Inf", "-Inf", "NaN", integers without an exponent).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iii::obs {

class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Declare (the first time) and select the family `name`. Declaring a name again only selects it.
  PrometheusText& counter(std::string_view name, std::string_view help);
  PrometheusText& gauge(std::string_view name, std::string_view help);
  PrometheusText& histogram(std::string_view name, std::string_view help);

  // One sample of the selected family. `name`: empty for the family's own name, a suffix starting
  // with '_' ("_total", "_created") appended to it, or a whole metric name. A sample before any
  // family is declared gets an untyped family of its own name.
  PrometheusText& sample(std::string_view name, const Labels& labels, double value);

  // A whole histogram of the selected family: one `_bucket` per upper bound with its cumulative
  // count, the `le="+Inf"` bucket (= count), `_sum` and `_count`. `name` as for sample(). Throws
  // std::invalid_argument when the two vectors differ in length.
  PrometheusText& histogram_samples(std::string_view name, const Labels& labels,
                                    const std::vector<double>& upper_bounds,
                                    const std::vector<uint64_t>& cumulative_counts, double sum, uint64_t count);

  // The page, ending with a newline (empty when nothing was added). The builder is then empty.
  std::string finish();

  // [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':'), invalid characters replaced by '_'.
  static std::string sanitize_metric_name(std::string_view name);
  static std::string sanitize_label_name(std::string_view name);
  // A label value with backslash, double quote and newline escaped.
  static std::string escape_label_value(std::string_view value);
  static std::string format_value(double value);

 private:
  struct Family {
    std::string name;
    std::string header;  // the HELP and TYPE lines
    std::string samples;
  };

  PrometheusText& declare(std::string_view name, std::string_view help, std::string_view type);
  Family& current(std::string_view sample_name);
  std::string sample_name(const Family& family, std::string_view name) const;
  static void append_sample(std::string& out, const std::string& name, const Labels& labels,
                            const std::pair<std::string, std::string>* extra, std::string_view value);

  std::vector<Family> families_;
  size_t current_ = SIZE_MAX;
};

}  // namespace iii::obs
