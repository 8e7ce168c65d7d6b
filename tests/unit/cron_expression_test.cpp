// The hand-written cron parser of iii-cron (docs/builtins.md §4.3): a table of valid expressions with
// their next fire times from fixed UTC instants (month ends, leap years, weekdays in both
// numberings, names, steps, years), a table of invalid expressions with the message each gets,
// and a bound on the cost of next_after for expressions that rarely or never fire.
#include "workers/cron/cron_expression.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "workers/cron/cron_scheduler.h"

namespace iii {
namespace {

using namespace std::chrono;

// "2024-02-29T23:59:59" (UTC), optionally with ".mmm".
system_clock::time_point at(const char* text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  const int n = std::sscanf(text, "%d-%d-%dT%d:%d:%d.%d", &y, &mo, &d, &h, &mi, &s, &ms);
  EXPECT_GE(n, 6) << text;
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} + hours{h} + minutes{mi} +
         seconds{s} + milliseconds{ms};
}

// The next fire time as "YYYY-MM-DDTHH:MM:SS", or "none".
std::string next(const std::string& expression, const char* from) {
  std::string error;
  std::optional<CronExpression> e = CronExpression::parse(expression, &error);
  if (!e) return "parse error: " + error;
  std::optional<sys_seconds> t = e->next_after(at(from));
  if (!t) return "none";
  std::string s = format_rfc3339(*t);
  return s.substr(0, s.size() - 6);  // drop "+00:00"
}

std::string parse_error(const std::string& expression) {
  std::string error;
  if (CronExpression::parse(expression, &error)) return "(accepted)";
  return error;
}

struct NextCase {
  const char* expression;
  const char* from;
  const char* expected;
};

TEST(CronExpression, NextFireTimes) {
  const NextCase cases[] = {
      // every second / minute, strictly after the start, sub-seconds ignored
      {"* * * * * *", "2024-01-01T00:00:00", "2024-01-01T00:00:01"},
      {"* * * * * *", "2024-01-01T00:00:00.999", "2024-01-01T00:00:01"},
      {"* * * * * *", "2024-12-31T23:59:59", "2025-01-01T00:00:00"},
      {"0 * * * * *", "2024-01-01T00:00:00", "2024-01-01T00:01:00"},
      {"0 * * * * *", "2024-01-01T00:00:59", "2024-01-01T00:01:00"},
      // steps, ranges, lists
      {"*/15 * * * * *", "2024-01-01T00:00:14", "2024-01-01T00:00:15"},
      {"*/15 * * * * *", "2024-01-01T00:00:45", "2024-01-01T00:01:00"},
      {"5/20 * * * * *", "2024-01-01T00:00:26", "2024-01-01T00:00:45"},
      {"0 0 1-10/2 * * *", "2024-01-01T09:00:00", "2024-01-02T01:00:00"},
      {"0 0 1-10/2 * * *", "2024-01-01T04:30:00", "2024-01-01T05:00:00"},
      {"0 0,30 8,17 * * *", "2024-01-01T08:30:00", "2024-01-01T17:00:00"},
      {"0 0,30 8,17 * * *", "2024-01-01T17:30:00", "2024-01-02T08:00:00"},
      {"0 */5 * * * *", "2024-01-01T23:59:00", "2024-01-02T00:00:00"},
      {"30 59 23 * * *", "2024-01-01T23:59:30", "2024-01-02T23:59:30"},
      // month ends and year ends
      {"0 0 0 31 * *", "2024-04-15T00:00:00", "2024-05-31T00:00:00"},
      {"0 0 0 31 * *", "2024-05-31T00:00:00", "2024-07-31T00:00:00"},
      {"0 0 0 30 * *", "2024-01-30T00:00:00", "2024-03-30T00:00:00"},
      {"0 0 0 1 * *", "2024-01-31T12:00:00", "2024-02-01T00:00:00"},
      {"59 59 23 31 12 *", "2024-12-31T23:59:59", "2025-12-31T23:59:59"},
      {"0 0 0 1 1 *", "2024-06-01T00:00:00", "2025-01-01T00:00:00"},
      // leap years (2100 is not one, and is the last year)
      {"0 0 0 29 2 *", "2023-01-01T00:00:00", "2024-02-29T00:00:00"},
      {"0 0 0 29 2 *", "2024-03-01T00:00:00", "2028-02-29T00:00:00"},
      {"0 0 0 29 2 *", "2096-03-01T00:00:00", "none"},
      {"0 0 0 28 2 *", "2100-01-01T00:00:00", "2100-02-28T00:00:00"},
      {"0 0 0 1 3 *", "2024-02-28T00:00:00", "2024-03-01T00:00:00"},
      {"0 0 12 * 2 *", "2024-02-28T12:00:00", "2024-02-29T12:00:00"},
      {"0 0 12 * 2 *", "2023-02-28T12:00:00", "2024-02-01T12:00:00"},
      // day-of-week: 0 and 7 are Sunday, 1 is Monday (2024-01-01 was a Monday)
      {"0 0 9 * * 1", "2024-01-01T09:00:00", "2024-01-08T09:00:00"},
      {"0 0 9 * * 1", "2024-01-01T08:00:00", "2024-01-01T09:00:00"},
      {"0 0 0 * * 0", "2024-01-01T00:00:00", "2024-01-07T00:00:00"},
      {"0 0 0 * * 7", "2024-01-01T00:00:00", "2024-01-07T00:00:00"},
      {"0 0 0 * * 6", "2024-01-01T00:00:00", "2024-01-06T00:00:00"},
      {"0 0 0 * * SUN", "2024-01-01T00:00:00", "2024-01-07T00:00:00"},
      {"0 0 0 * * sun", "2024-01-01T00:00:00", "2024-01-07T00:00:00"},
      {"0 0 0 * * Sat", "2024-01-01T00:00:00", "2024-01-06T00:00:00"},
      {"0 0 0 * * MON-FRI", "2024-01-05T00:00:00", "2024-01-08T00:00:00"},
      {"0 0 0 * * 1-5", "2024-01-05T00:00:00", "2024-01-08T00:00:00"},
      {"0 0 0 * * FRI-SUN", "2024-01-01T00:00:00", "2024-01-05T00:00:00"},
      {"0 0 0 * * 5-7", "2024-01-06T00:00:00", "2024-01-07T00:00:00"},
      {"0 0 0 ? * MON", "2024-01-02T00:00:00", "2024-01-08T00:00:00"},
      // day-of-month AND day-of-week when both are restricted (Friday the 13th)
      {"0 0 0 13 * FRI", "2024-01-01T00:00:00", "2024-09-13T00:00:00"},
      {"0 0 0 13 * 5", "2024-09-13T00:00:00", "2024-12-13T00:00:00"},
      {"0 0 0 1 * ?", "2024-01-01T00:00:00", "2024-02-01T00:00:00"},
      // month names
      {"0 0 0 1 JAN,jul *", "2024-02-01T00:00:00", "2024-07-01T00:00:00"},
      {"0 0 0 1 mar-MAY *", "2024-05-01T00:00:00", "2025-03-01T00:00:00"},
      {"0 0 0 1 */3 *", "2024-02-01T00:00:00", "2024-04-01T00:00:00"},  // 1, 4, 7, 10
      // years
      {"0 0 0 1 1 * 2030", "2024-06-01T00:00:00", "2030-01-01T00:00:00"},
      {"0 0 0 1 1 * 2020", "2024-06-01T00:00:00", "none"},
      {"0 0 0 1 1 * 2025-2029/2", "2025-01-01T00:00:00", "2027-01-01T00:00:00"},
      {"0 0 0 1 1 * 2099", "1970-01-01T00:00:00", "2099-01-01T00:00:00"},
      {"0 0 0 1 1 * *", "2024-06-01T00:00:00", "2025-01-01T00:00:00"},
      // days that never occur
      {"0 0 0 30 2 *", "2024-01-01T00:00:00", "none"},
      {"0 0 0 31 4,6,9,11 *", "2024-01-01T00:00:00", "none"},
      // shorthands and whitespace
      {"@daily", "2024-01-01T00:00:00", "2024-01-02T00:00:00"},
      {"@midnight", "2024-01-01T13:00:00", "2024-01-02T00:00:00"},
      {"@hourly", "2024-01-01T00:00:00", "2024-01-01T01:00:00"},
      {"@weekly", "2024-01-01T00:00:00", "2024-01-07T00:00:00"},
      {"@monthly", "2024-01-15T00:00:00", "2024-02-01T00:00:00"},
      {"@YEARLY", "2024-01-15T00:00:00", "2025-01-01T00:00:00"},
      {"@annually", "2024-01-15T00:00:00", "2025-01-01T00:00:00"},
      {"  0\t0  12 * * *  ", "2024-01-01T12:00:00", "2024-01-02T12:00:00"},
  };
  for (const NextCase& c : cases) EXPECT_EQ(next(c.expression, c.from), c.expected) << c.expression << " from " << c.from;
}

TEST(CronExpression, WeekdayNumberingAcceptsBothSundays) {
  auto mask = [](const char* expression) {
    std::optional<CronExpression> e = CronExpression::parse(expression);
    EXPECT_TRUE(e) << expression;
    return e ? e->day_of_week_mask() : 0;
  };
  EXPECT_EQ(mask("0 0 0 * * 0"), 0b0000001);
  EXPECT_EQ(mask("0 0 0 * * 7"), 0b0000001);
  EXPECT_EQ(mask("0 0 0 * * SUN"), 0b0000001);
  EXPECT_EQ(mask("0 0 0 * * 1"), 0b0000010);  // Monday, as the iii docs say (Quartz would say Sunday)
  EXPECT_EQ(mask("0 0 0 * * MON"), 0b0000010);
  EXPECT_EQ(mask("0 0 0 * * 6"), 0b1000000);
  EXPECT_EQ(mask("0 0 0 * * SAT"), 0b1000000);
  EXPECT_EQ(mask("0 0 0 * * 0-7"), 0b1111111);
  EXPECT_EQ(mask("0 0 0 * * *"), 0b1111111);
  EXPECT_EQ(mask("0 0 0 * * ?"), 0b1111111);
  EXPECT_EQ(mask("0 0 0 * * MON-SUN"), 0b1111111);
  EXPECT_EQ(mask("0 0 0 * * SUN-SAT"), 0b1111111);
  EXPECT_EQ(mask("0 0 0 * * FRI-SUN"), 0b1100001);
  EXPECT_EQ(mask("0 0 0 * * 5-7"), 0b1100001);
  EXPECT_EQ(mask("0 0 0 * * 0,7"), 0b0000001);
  EXPECT_EQ(mask("0 0 0 * * */2"), 0b1010101);  // Sun, Tue, Thu, Sat
  EXPECT_EQ(mask("0 0 0 * * 1/2"), 0b0101010);  // Mon, Wed, Fri
}

TEST(CronExpression, FieldMasks) {
  std::optional<CronExpression> e = CronExpression::parse("1-3,10 */20 0 1,15 JAN-MAR,DEC MON 2025,2030");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->second_mask(), (1ull << 1) | (1ull << 2) | (1ull << 3) | (1ull << 10));
  EXPECT_EQ(e->minute_mask(), (1ull << 0) | (1ull << 20) | (1ull << 40));
  EXPECT_EQ(e->hour_mask(), 1u);
  EXPECT_EQ(e->day_of_month_mask(), (1u << 1) | (1u << 15));
  EXPECT_EQ(e->month_mask(), (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
  EXPECT_TRUE(e->year_matches(2025));
  EXPECT_TRUE(e->year_matches(2030));
  EXPECT_FALSE(e->year_matches(2026));
  EXPECT_FALSE(e->year_matches(1969));
}

struct ErrorCase {
  const char* expression;
  const char* expected;  // the whole message
};

TEST(CronExpression, InvalidExpressionsSayWhatIsWrong) {
  const ErrorCase cases[] = {
      {"", "the expression is empty (expected 6 or 7 fields: second minute hour day-of-month month day-of-week [year])"},
      {"   ", "the expression is empty (expected 6 or 7 fields: second minute hour day-of-month month day-of-week [year])"},
      {"*/5 * * * *",
       "expected 6 or 7 fields (second minute hour day-of-month month day-of-week [year]), got 5; classic 5-field "
       "crontab lines need a seconds field first, e.g. `0 */5 * * * *`"},
      {"* * * * * * * *", "expected 6 or 7 fields (second minute hour day-of-month month day-of-week [year]), got 8"},
      {"60 * * * * *", "second (field 1): `60` is out of range 0-59 (allowed: 0-59)"},
      {"* 60 * * * *", "minute (field 2): `60` is out of range 0-59 (allowed: 0-59)"},
      {"* * 24 * * *", "hour (field 3): `24` is out of range 0-23 (allowed: 0-23)"},
      {"* * * 0 * *", "day-of-month (field 4): `0` is out of range 1-31 (allowed: 1-31 or ?)"},
      {"* * * 1,32 * *", "day-of-month (field 4): `32` is out of range 1-31 (allowed: 1-31 or ?)"},
      {"* * * * 13 *", "month (field 5): `13` is out of range 1-12 (allowed: 1-12 or JAN-DEC)"},
      {"* * * * 0 *", "month (field 5): `0` is out of range 1-12 (allowed: 1-12 or JAN-DEC)"},
      {"* * * * FOO *", "month (field 5): unknown name `FOO` (allowed: 1-12 or JAN-DEC)"},
      {"* * * * JAN-FOO *", "month (field 5): unknown name `FOO` (allowed: 1-12 or JAN-DEC)"},
      {"* * * * * 8", "day-of-week (field 6): `8` is out of range 0-7 (allowed: 0-7 (0 and 7 are Sunday), SUN-SAT or ?)"},
      {"* * * * * SUNDAY", "day-of-week (field 6): unknown name `SUNDAY` (allowed: 0-7 (0 and 7 are Sunday), SUN-SAT or ?)"},
      {"* * * * * SAT-MON",
       "day-of-week (field 6): range `SAT-MON` runs backwards: its start is after its end (allowed: 0-7 (0 and 7 are "
       "Sunday), SUN-SAT or ?)"},
      {"* * * * * * 1969", "year (field 7): `1969` is out of range 1970-2100 (allowed: 1970-2100)"},
      {"* * * * * * 2101", "year (field 7): `2101` is out of range 1970-2100 (allowed: 1970-2100)"},
      {"? * * * * *", "second (field 1): `?` is only allowed in day-of-month and day-of-week (allowed here: 0-59)"},
      {"* * * * ? *", "month (field 5): `?` is only allowed in day-of-month and day-of-week (allowed here: 1-12 or JAN-DEC)"},
      {"0 0 0 ?/2 * *", "day-of-month (field 4): `?` takes no step, got `?/2`"},
      {"*/0 * * * * *", "second (field 1): step in `*/0` must be at least 1"},
      {"*/61 * * * * *", "second (field 1): step 61 in `*/61` is larger than the field's 60 values"},
      {"*/x * * * * *", "second (field 1): step `x` in `*/x` is not a whole number"},
      {"*/ * * * * *", "second (field 1): missing step after `/` in `*/`"},
      {"/5 * * * * *", "second (field 1): missing start before `/` in `/5` (write `*/5`)"},
      {"1/2/3 * * * * *", "second (field 1): `1/2/3` has more than one `/`"},
      {"5-2 * * * * *", "second (field 1): range `5-2` runs backwards: its start is after its end (allowed: 0-59)"},
      {"-5 * * * * *", "second (field 1): missing range start in `-5` (negative numbers are not allowed)"},
      {"5- * * * * *", "second (field 1): missing range end in `5-`"},
      {"1,,2 * * * * *", "second (field 1): empty item in `1,,2`"},
      {"1, * * * * *", "second (field 1): empty item in `1,`"},
      {"a * * * * *", "second (field 1): `a` is not a number (allowed: 0-59)"},
      {"1.5 * * * * *", "second (field 1): `1.5` is not a number (allowed: 0-59)"},
      {"* * MON * * *", "hour (field 3): `MON` is not a number (allowed: 0-23)"},
      {"99999999999 * * * * *", "second (field 1): `99999999999` is out of range 0-59"},
      {"@fortnightly", "unknown shorthand `@fortnightly` (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"},
  };
  for (const ErrorCase& c : cases) EXPECT_EQ(parse_error(c.expression), c.expected) << c.expression;
}

TEST(CronExpression, NextAfterIsCheapEvenWhenItNeverFires) {
  // Each of these walks up to 2100 without a match or with one match far away; a second-by-second
  // scan would take minutes, the field jumps take well under a millisecond each.
  const char* expressions[] = {"0 0 0 30 2 *", "0 0 0 31 4,6,9,11 *", "0 0 0 29 2 MON", "59 59 23 31 12 * 2100",
                               "0 0 0 13 * FRI 2099-2100"};
  const auto start = steady_clock::now();
  for (int round = 0; round < 20; ++round) {
    for (const char* text : expressions) {
      std::optional<CronExpression> e = CronExpression::parse(text);
      ASSERT_TRUE(e) << text;
      (void)e->next_after(at("1970-01-01T00:00:00"));
    }
  }
  EXPECT_LT(steady_clock::now() - start, seconds{2});
  EXPECT_EQ(next("59 59 23 31 12 * 2100", "1970-01-01T00:00:00"), "2100-12-31T23:59:59");
  EXPECT_EQ(next("0 0 0 29 2 MON", "2024-01-01T00:00:00"), "2044-02-29T00:00:00");
}

TEST(CronExpression, Rfc3339Formatting) {
  EXPECT_EQ(format_rfc3339(at("2024-02-29T07:08:09")), "2024-02-29T07:08:09+00:00");
  EXPECT_EQ(format_rfc3339(at("2024-02-29T07:08:09.120")), "2024-02-29T07:08:09.120+00:00");
  EXPECT_EQ(format_rfc3339(at("1970-01-01T00:00:00")), "1970-01-01T00:00:00+00:00");
}

}  // namespace
}  // namespace iii
