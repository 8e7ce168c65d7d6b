// iii-exec's restart schedule and output lines: the delay doubles up to its bound and starts over
// after reset(); output is cut into lines with a bound on what is held.
#include "workers/exec/output_lines.h"
#include "workers/exec/restart_backoff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iii {
namespace {

using std::chrono::milliseconds;

TEST(ExecBackoffTest, DoublesUpToTheBoundThenResets) {
  RestartBackoff b(milliseconds(1000), milliseconds(30'000));
  std::vector<int64_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(b.next().count());
  EXPECT_EQ(got, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
  b.reset();
  EXPECT_EQ(b.peek(), milliseconds(1000));
  EXPECT_EQ(b.next(), milliseconds(1000));
  EXPECT_EQ(b.next(), milliseconds(2000));
}

TEST(ExecBackoffTest, EqualBoundsStayPut) {
  RestartBackoff b(milliseconds(500), milliseconds(500));
  EXPECT_EQ(b.next(), milliseconds(500));
  EXPECT_EQ(b.next(), milliseconds(500));
  RestartBackoff big(milliseconds(3'600'000), milliseconds(3'600'000));
  big.next();
  EXPECT_EQ(big.next(), milliseconds(3'600'000));
}

struct Collected {
  std::vector<std::string> lines;
  std::vector<bool> cut;
  OutputLines::Emit emit() {
    return [this](std::string_view l, bool c) {
      lines.emplace_back(l);
      cut.push_back(c);
    };
  }
};

TEST(ExecLinesTest, SplitsAcrossChunksAndDropsCarriageReturns) {
  OutputLines out(64);
  Collected c;
  out.feed("hello\nwor", c.emit());
  out.feed("ld\r\n\nlast", c.emit());
  EXPECT_EQ(c.lines, (std::vector<std::string>{"hello", "world", ""}));
  out.flush(c.emit());
  EXPECT_EQ(c.lines.back(), "last");
}

TEST(ExecLinesTest, OverlongLinesAreCutAndTheirRestDropped) {
  OutputLines out(8);
  Collected c;
  out.feed("0123456789abc", c.emit());  // cut at once, nothing more held
  out.feed("def\nok\n", c.emit());
  EXPECT_EQ(c.lines, (std::vector<std::string>{"01234567", "ok"}));
  EXPECT_EQ(c.cut, (std::vector<bool>{true, false}));
  out.feed("12345678", c.emit());  // exactly the bound, then its newline: not cut
  out.feed("\n", c.emit());
  EXPECT_EQ(c.lines.back(), "12345678");
  EXPECT_FALSE(c.cut.back());
}

}  // namespace
}  // namespace iii
