// A cron schedule as the `cron` trigger type takes it (docs/builtins.md §4.3). Pure: no I/O, no clock.
//
// Format: 6 or 7 whitespace-separated fields, seconds first, year optional, all in UTC:
//
//   second  minute  hour  day-of-month  month  day-of-week  [year]
//   0-59    0-59    0-23  1-31          1-12   0-7          1970-2100
//
// Each field is a comma-separated list of `*`, `N`, `A-B`, `*/S`, `A-B/S` or `A/S` (A up to the
// field's maximum, every S). Months take JAN..DEC and weekdays SUN..SAT (any case) wherever a
// number is allowed. `?` means "any" and is only allowed in day-of-month and day-of-week. When
// both day-of-month and day-of-week are restricted, a day must match both (the reference
// engine's rule, unlike Vixie cron's "either"). The shorthands @yearly (@annually), @monthly,
// @weekly (Sunday 00:00), @daily (@midnight) and @hourly are accepted too.
// Classic 5-field crontab lines are rejected with a hint to add the seconds field.
//
// Day-of-week numbering (docs/builtins.md §4.3 and §14 flag it as ambiguous): we follow the
// DOCUMENTED numbering, 0-7 with Sunday = 0 or 7, Monday = 1 ... Saturday = 6, as every iii
// document and Unix crontab do ("0 0 9 * * 1" is Monday 09:00). The reference engine's parser
// instead uses Quartz numbering (1-7, Sunday = 1, 0 rejected), which contradicts its own docs.
// Names (SUN..SAT) mean the same under both, and a range may end in SUN (`FRI-SUN`).
//
// Usage:
//   std::string error;
//   auto e = CronExpression::parse("0 */5 * * * *", &error);   // every five minutes
//   if (!e) report(error);                                      // e.g. "minute (field 2): ..."
//   std::optional<std::chrono::sys_seconds> next = e->next_after(std::chrono::system_clock::now());
#pragma once
#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iii {

class CronExpression {
 public:
  static constexpr int kMinYear = 1970;
  static constexpr int kMaxYear = 2100;

  // Parses `text`. On failure returns nullopt and, when `error` is given, sets it to one sentence
  // naming the field, the token and the allowed values.
  static std::optional<CronExpression> parse(std::string_view text, std::string* error = nullptr);

  // The first fire time strictly after `after` (sub-second parts ignored), or nullopt when there
  // is none before the end of kMaxYear (a year list in the past, or a day that never occurs such
  // as `30 FEB`). Cost is bounded by jumps over years, months, days, hours, minutes and seconds,
  // never a scan second by second.
  std::optional<std::chrono::sys_seconds> next_after(std::chrono::system_clock::time_point after) const;

  // The matching sets, for tests and diagnostics. Bit i set ⇔ value i matches. Day-of-week bits
  // are 0 (Sunday) .. 6 (Saturday); 7 in an expression sets bit 0.
  uint64_t second_mask() const { return seconds_; }
  uint64_t minute_mask() const { return minutes_; }
  uint32_t hour_mask() const { return hours_; }
  uint32_t day_of_month_mask() const { return days_of_month_; }
  uint16_t month_mask() const { return months_; }
  uint8_t day_of_week_mask() const { return days_of_week_; }
  bool year_matches(int year) const {
    return year >= kMinYear && year <= kMaxYear && years_.test(static_cast<size_t>(year - kMinYear));
  }

 private:
  CronExpression() = default;

  uint64_t seconds_ = 0;
  uint64_t minutes_ = 0;
  uint32_t hours_ = 0;
  uint32_t days_of_month_ = 0;
  uint16_t months_ = 0;
  uint8_t days_of_week_ = 0;
  std::bitset<kMaxYear - kMinYear + 1> years_;
};

}  // namespace iii
