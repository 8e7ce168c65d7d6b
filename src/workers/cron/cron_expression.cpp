#include "workers/cron/cron_expression.h"

#include <array>
#include <bit>
#include <cctype>
#include <vector>

namespace iii {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
  const char* name;
  int position;  // 1-based, as users count fields
  int min, max;  // accepted numbers
  int open_max;  // upper end of `*` and `A/S` (day-of-week: 6, since 7 only repeats Sunday)
  const std::string_view* names = nullptr;  // optional names, names[i] means names_base + i
  int name_count = 0;
  int names_base = 0;
  bool any_allowed = false;  // `?`
  const char* allowed = "";  // for messages, e.g. "1-12 or JAN-DEC"
};

constexpr FieldSpec kFields[7] = {
    {"second", 1, 0, 59, 59, nullptr, 0, 0, false, "0-59"},
    {"minute", 2, 0, 59, 59, nullptr, 0, 0, false, "0-59"},
    {"hour", 3, 0, 23, 23, nullptr, 0, 0, false, "0-23"},
    {"day-of-month", 4, 1, 31, 31, nullptr, 0, 0, true, "1-31 or ?"},
    {"month", 5, 1, 12, 12, kMonthNames.data(), 12, 1, false, "1-12 or JAN-DEC"},
    {"day-of-week", 6, 0, 7, 6, kWeekdayNames.data(), 7, 0, true, "0-7 (0 and 7 are Sunday), SUN-SAT or ?"},
    {"year", 7, CronExpression::kMinYear, CronExpression::kMaxYear, CronExpression::kMaxYear, nullptr, 0, 0, false,
     "1970-2100"},
};
constexpr int kDayOfWeek = 5;  // index into kFields

constexpr std::string_view kFieldList = "second minute hour day-of-month month day-of-week [year]";

struct Shorthand {
  std::string_view name, expansion;
};
constexpr Shorthand kShorthands[] = {
    {"@yearly", "0 0 0 1 1 *"},   {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
    {"@weekly", "0 0 0 * * SUN"}, {"@daily", "0 0 0 * * *"},    {"@midnight", "0 0 0 * * *"},
    {"@hourly", "0 0 * * * *"},
};

// The values one field matches, indexed by the raw value (years need up to 2100).
using ValueSet = std::bitset<CronExpression::kMaxYear + 1>;

class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view text) : spec_(spec), text_(text) {}

  // Parses the whole field into `out`. False with error() set on the first problem.
  bool parse(ValueSet& out) {
    size_t start = 0;
    for (;;) {
      const size_t comma = text_.find(',', start);
      const std::string_view item = text_.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (item.empty()) return fail("empty item in `" + std::string(text_) + "`");
      if (!parse_item(item, out)) return false;
      if (comma == std::string_view::npos) return true;
      start = comma + 1;
    }
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(const std::string& problem) {
    error_ = std::string(spec_.name) + " (field " + std::to_string(spec_.position) + "): " + problem;
    return false;
  }
  bool is_day_of_week() const { return &spec_ == &kFields[kDayOfWeek]; }

  // One list item: `*`, `?`, `N`, `A-B`, each optionally followed by `/S`.
  bool parse_item(std::string_view item, ValueSet& out) {
    std::string_view base = item;
    int step = 1;
    bool stepped = false;
    if (const size_t slash = item.find('/'); slash != std::string_view::npos) {
      base = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      if (step_text.find('/') != std::string_view::npos) return fail("`" + std::string(item) + "` has more than one `/`");
      if (base.empty()) return fail("missing start before `/` in `" + std::string(item) + "` (write `*/" + std::string(step_text) + "`)");
      if (!parse_step(step_text, item, step)) return false;
      stepped = true;
    }
    int low = 0, high = 0;
    if (base == "*" || base == "?") {
      if (base == "?" && !spec_.any_allowed)
        return fail("`?` is only allowed in day-of-month and day-of-week (allowed here: " + std::string(spec_.allowed) + ")");
      if (base == "?" && stepped) return fail("`?` takes no step, got `" + std::string(item) + "`");
      low = spec_.min;
      high = spec_.open_max;
    } else if (const size_t dash = base.find('-'); dash != std::string_view::npos) {
      const std::string_view a = base.substr(0, dash), b = base.substr(dash + 1);
      if (a.empty()) return fail("missing range start in `" + std::string(item) + "` (negative numbers are not allowed)");
      if (b.empty()) return fail("missing range end in `" + std::string(item) + "`");
      if (!parse_value(a, false, low) || !parse_value(b, true, high)) return false;
      if (low > high)
        return fail("range `" + std::string(base) + "` runs backwards: its start is after its end (allowed: " +
                    std::string(spec_.allowed) + ")");
    } else {
      if (!parse_value(base, false, low)) return false;
      if (is_day_of_week() && low == 7) low = 0;
      high = stepped ? spec_.open_max : low;
    }
    for (int v = low; v <= high; v += step) out.set(static_cast<size_t>(is_day_of_week() && v == 7 ? 0 : v));
    return true;
  }

  bool parse_step(std::string_view text, std::string_view item, int& step) {
    const int span = spec_.open_max - spec_.min + 1;
    if (text.empty()) return fail("missing step after `/` in `" + std::string(item) + "`");
    if (!all_digits(text) || text.size() > 6)
      return fail("step `" + std::string(text) + "` in `" + std::string(item) + "` is not a whole number");
    step = std::stoi(std::string(text));
    if (step < 1) return fail("step in `" + std::string(item) + "` must be at least 1");
    if (step > span)
      return fail("step " + std::to_string(step) + " in `" + std::string(item) + "` is larger than the field's " +
                  std::to_string(span) + " values");
    return true;
  }

  // A number or (where the field has them) a name. A range end named SUN is 7 so that `FRI-SUN` works.
  bool parse_value(std::string_view token, bool range_end, int& out) {
    if (all_digits(token)) {
      if (token.size() > 9) return fail("`" + std::string(token) + "` is out of range " + range_text());
      out = std::stoi(std::string(token));
      if (out < spec_.min || out > spec_.max)
        return fail("`" + std::string(token) + "` is out of range " + range_text() + " (allowed: " + spec_.allowed + ")");
      return true;
    }
    if (spec_.names && token.size() == 3) {
      for (int i = 0; i < spec_.name_count; ++i) {
        if (iequals(token, spec_.names[i])) {
          out = spec_.names_base + i;
          if (range_end && is_day_of_week() && out == 0) out = 7;
          return true;
        }
      }
    }
    if (spec_.names && is_word(token))
      return fail("unknown name `" + std::string(token) + "` (allowed: " + spec_.allowed + ")");
    return fail("`" + std::string(token) + "` is not a number (allowed: " + std::string(spec_.allowed) + ")");
  }

  std::string range_text() const { return std::to_string(spec_.min) + "-" + std::to_string(spec_.max); }

  static bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  }
  static bool is_word(std::string_view s) {
    for (char c : s)
      if (!std::isalpha(static_cast<unsigned char>(c))) return false;
    return !s.empty();
  }
  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
    return true;
  }

  const FieldSpec& spec_;
  const std::string_view text_;
  std::string error_;
};

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

template <typename Mask>
Mask mask_of(const ValueSet& set, int max) {
  Mask m = 0;
  for (int v = 0; v <= max; ++v)
    if (set.test(static_cast<size_t>(v))) m |= Mask{1} << v;
  return m;
}

// The smallest set bit of `mask` at or above `from`, or -1.
int next_bit(uint64_t mask, int from) {
  if (from >= 64) return -1;
  const uint64_t m = mask & (~uint64_t{0} << from);
  return m ? std::countr_zero(m) : -1;
}

bool has(uint64_t mask, unsigned bit) { return (mask >> bit) & 1u; }

}  // namespace

std::optional<CronExpression> CronExpression::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string message) -> std::optional<CronExpression> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  std::vector<std::string_view> fields = split_fields(text);
  if (fields.empty()) return fail("the expression is empty (expected 6 or 7 fields: " + std::string(kFieldList) + ")");
  if (fields.size() == 1 && fields[0].starts_with('@')) {
    std::string lower(fields[0]);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const Shorthand& s : kShorthands)
      if (lower == s.name) return parse(s.expansion, error);
    return fail("unknown shorthand `" + std::string(fields[0]) +
                "` (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)");
  }
  if (fields.size() != 6 && fields.size() != 7) {
    std::string message = "expected 6 or 7 fields (" + std::string(kFieldList) + "), got " + std::to_string(fields.size());
    if (fields.size() == 5) {
      std::string joined;
      for (auto f : fields) joined += " " + std::string(f);
      message += "; classic 5-field crontab lines need a seconds field first, e.g. `0" + joined + "`";
    }
    return fail(message);
  }

  CronExpression e;
  ValueSet sets[7];
  sets[6].set();  // no year field: every year
  for (size_t i = 0; i < fields.size(); ++i) {
    FieldParser parser(kFields[i], fields[i]);
    if (i == 6) sets[6].reset();
    if (!parser.parse(sets[i])) return fail(parser.error());
  }
  e.seconds_ = mask_of<uint64_t>(sets[0], 59);
  e.minutes_ = mask_of<uint64_t>(sets[1], 59);
  e.hours_ = mask_of<uint32_t>(sets[2], 23);
  e.days_of_month_ = mask_of<uint32_t>(sets[3], 31);
  e.months_ = mask_of<uint16_t>(sets[4], 12);
  e.days_of_week_ = mask_of<uint8_t>(sets[5], 6);
  for (int y = kMinYear; y <= kMaxYear; ++y)
    if (sets[6].test(static_cast<size_t>(y))) e.years_.set(static_cast<size_t>(y - kMinYear));
  return e;
}

std::optional<sys_seconds> CronExpression::next_after(system_clock::time_point after) const {
  // Each step below either returns or moves `t` forward to the start of the next candidate year,
  // month, day, hour, minute or second, so a few thousand steps cover even expressions that never
  // fire (e.g. `0 0 0 30 2 *` visits each February once per year up to kMaxYear).
  constexpr int kMaxSteps = 200'000;
  const sys_seconds first{sys_days{year{kMinYear} / January / 1}};
  sys_seconds t = floor<seconds>(after) + seconds{1};
  if (t < first) t = first;
  for (int step = 0; step < kMaxSteps; ++step) {
    const sys_days day = floor<days>(t);
    const year_month_day ymd{day};
    const int y = static_cast<int>(ymd.year());
    if (y > kMaxYear) return std::nullopt;
    if (!year_matches(y)) {
      int next_year = y + 1;
      while (next_year <= kMaxYear && !year_matches(next_year)) ++next_year;
      if (next_year > kMaxYear) return std::nullopt;
      t = sys_days{year{next_year} / January / 1};
      continue;
    }
    const year_month_day first_of_month{ymd.year() / ymd.month() / 1};
    const unsigned mo = static_cast<unsigned>(ymd.month());
    if (!has(months_, mo)) {
      const int next_month = next_bit(months_, static_cast<int>(mo) + 1);
      t = next_month < 0 ? sys_days{year{y + 1} / January / 1}
                         : sys_days{year{y} / month{static_cast<unsigned>(next_month)} / 1};
      continue;
    }
    const unsigned d = static_cast<unsigned>(ymd.day());
    if (!has(days_of_month_, d)) {
      const unsigned last = static_cast<unsigned>(year_month_day_last{ymd.year() / ymd.month() / std::chrono::last}.day());
      const int next_day = next_bit(days_of_month_, static_cast<int>(d) + 1);
      t = (next_day < 0 || static_cast<unsigned>(next_day) > last) ? sys_days{first_of_month + months{1}}
                                                                   : sys_days{first_of_month} + days{next_day - 1};
      continue;
    }
    if (!has(days_of_week_, weekday{day}.c_encoding())) {
      t = day + days{1};
      continue;
    }
    const seconds since_midnight = t - day;
    const int h = static_cast<int>(since_midnight / hours{1});
    const int m = static_cast<int>((since_midnight % hours{1}) / minutes{1});
    const int s = static_cast<int>((since_midnight % minutes{1}).count());
    if (!has(hours_, static_cast<unsigned>(h))) {
      const int next_hour = next_bit(hours_, h + 1);
      t = next_hour < 0 ? sys_seconds{day + days{1}} : sys_seconds{day} + hours{next_hour};
      continue;
    }
    if (!has(minutes_, static_cast<unsigned>(m))) {
      const int next_minute = next_bit(minutes_, m + 1);
      t = sys_seconds{day} + hours{h} + (next_minute < 0 ? hours{1} : minutes{next_minute});
      continue;
    }
    if (!has(seconds_, static_cast<unsigned>(s))) {
      const int next_second = next_bit(seconds_, s + 1);
      if (next_second < 0) {
        t = sys_seconds{day} + hours{h} + minutes{m + 1};
        continue;
      }
      return sys_seconds{day} + hours{h} + minutes{m} + seconds{next_second};
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace iii
