// TraceArchive (workers/observability/trace_archive.h): spans (records and compact engine spans)
// survive close and reopen with every field intact, the disk bound and the retention delete oldest
// data first, a block torn by a crash or failing its checksum ends what is read of its segment,
// and the in-memory queue's bound drops and counts.
#include "workers/observability/trace_archive.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "temp_dir.h"

namespace iii::obs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-trace-archive-test-") {}
};

uint64_t now_nanos() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string hex(uint64_t n, int width) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(n));
  return buf;
}

// Span `i` of trace `t`, ending `age` before now; every field set.
SpanRecord make_span(uint64_t t, uint64_t i, std::chrono::nanoseconds age = 0ns) {
  SpanRecord s;
  s.trace_id = hex(t, 32);
  s.span_id = hex(i + 1, 16);
  s.parent_span_id = i == 0 ? "" : hex(i, 16);
  s.name = "call \"fn\" #" + std::to_string(i);
  s.kind = static_cast<uint8_t>(1 + i % 5);
  s.end_time_unix_nano = now_nanos() - static_cast<uint64_t>(age.count());
  s.start_time_unix_nano = s.end_time_unix_nano - 1'500'000;
  s.status = i % 3 == 0 ? SpanStatus::kOk : i % 3 == 1 ? SpanStatus::kError : SpanStatus::kUnset;
  s.status_message = s.status == SpanStatus::kError ? "boom\nline two" : "";
  s.service_name = "svc";
  s.scope_name = i % 2 ? "scope" : "";
  s.scope_version = i % 2 ? "1.2.3" : "";
  s.flags = i % 2 ? 1 : 0;
  s.attributes = {{"function_id", "\"math.add\""}, {"n", std::to_string(i)}, {"ok", "true"},
                  {"ratio", "0.25"}, {"list", "[1,\"a\",null]"}, {"obj", "{\"k\":{\"x\":-3}}"}};
  s.events = {SpanEvent{"exception", s.start_time_unix_nano + 5, {{"exception.message", "\"bad\""}}},
              SpanEvent{"empty", s.end_time_unix_nano, {}}};
  s.engine_span = i % 2 == 0;
  return s;
}

void expect_same(const SpanRecord& a, const SpanRecord& b) {
  EXPECT_EQ(a.trace_id, b.trace_id);
  EXPECT_EQ(a.span_id, b.span_id);
  EXPECT_EQ(a.parent_span_id, b.parent_span_id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.start_time_unix_nano, b.start_time_unix_nano);
  EXPECT_EQ(a.end_time_unix_nano, b.end_time_unix_nano);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.status_message, b.status_message);
  EXPECT_EQ(a.service_name, b.service_name);
  EXPECT_EQ(a.scope_name, b.scope_name);
  EXPECT_EQ(a.scope_version, b.scope_version);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.engine_span, b.engine_span);
  ASSERT_EQ(a.attributes.size(), b.attributes.size());
  for (size_t i = 0; i < a.attributes.size(); ++i) {
    EXPECT_EQ(a.attributes[i].key, b.attributes[i].key);
    EXPECT_EQ(a.attributes[i].value, b.attributes[i].value);
  }
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    EXPECT_EQ(a.events[i].name, b.events[i].name);
    EXPECT_EQ(a.events[i].time_unix_nano, b.events[i].time_unix_nano);
    ASSERT_EQ(a.events[i].attributes.size(), b.events[i].attributes.size());
    for (size_t j = 0; j < a.events[i].attributes.size(); ++j) {
      EXPECT_EQ(a.events[i].attributes[j].key, b.events[i].attributes[j].key);
      EXPECT_EQ(a.events[i].attributes[j].value, b.events[i].attributes[j].value);
    }
  }
}

std::vector<SpanRecord> records(const std::vector<StoredSpan>& spans) {
  std::vector<SpanRecord> out;
  for (const StoredSpan& s : spans) out.push_back(*s.record());
  return out;
}

TraceArchiveOptions options_in(const fs::path& dir) {
  TraceArchiveOptions o;
  o.directory = dir / "traces";  // not there yet: open() creates it
  o.write_interval = 20ms;
  return o;
}

uint64_t directory_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += e.file_size();
  return total;
}

std::vector<fs::path> segment_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(TraceArchiveTest, SpansSurviveCloseAndReopenWithEveryField) {
  TempDir dir;
  std::vector<SpanRecord> expected;
  for (uint64_t i = 0; i < 6; ++i) expected.push_back(make_span(1, i));
  for (uint64_t i = 0; i < 4; ++i) expected.push_back(make_span(2, i));
  {
    auto archive = TraceArchive::open(options_in(dir.path()));
    archive->append({expected.begin(), expected.begin() + 6});
    archive->append({expected.begin() + 6, expected.end()});
    // Readable while still queued, and after the writer stored them.
    EXPECT_EQ(archive->trace(hex(2, 32)).size(), 4u);
    ASSERT_TRUE(archive->flush());
    EXPECT_EQ(archive->stats().written, 10u);
    EXPECT_EQ(archive->stats().dropped, 0u);
    EXPECT_EQ(archive->recent(100).size(), 10u);
  }
  auto archive = TraceArchive::open(options_in(dir.path()));
  const std::vector<SpanRecord> recent = records(archive->recent(100));
  ASSERT_EQ(recent.size(), expected.size());
  for (size_t i = 0; i < recent.size(); ++i) expect_same(recent[i], expected[i]);

  const std::vector<SpanRecord> last3 = records(archive->recent(3));
  ASSERT_EQ(last3.size(), 3u);
  expect_same(last3[0], expected[7]);
  expect_same(last3[2], expected[9]);

  const std::vector<SpanRecord> one = records(archive->trace(hex(1, 32)));
  ASSERT_EQ(one.size(), 6u);
  for (size_t i = 0; i < one.size(); ++i) expect_same(one[i], expected[i]);
  EXPECT_TRUE(archive->trace(hex(3, 32)).empty());
  EXPECT_GT(archive->stats().disk_bytes, 0u);
}

TEST(TraceArchiveTest, NewSpansAfterReopenComeAfterOldOnes) {
  TempDir dir;
  {
    auto archive = TraceArchive::open(options_in(dir.path()));
    archive->append({make_span(1, 0), make_span(1, 1)});
  }  // the destructor flushes
  {
    auto archive = TraceArchive::open(options_in(dir.path()));
    archive->append({make_span(1, 2)});
    ASSERT_TRUE(archive->flush());
    const auto spans = records(archive->trace(hex(1, 32)));
    ASSERT_EQ(spans.size(), 3u);
    EXPECT_EQ(spans[2].span_id, hex(3, 16));
  }
  auto archive = TraceArchive::open(options_in(dir.path()));
  const auto recent = records(archive->recent(2));
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].span_id, hex(2, 16));
  EXPECT_EQ(recent[1].span_id, hex(3, 16));
}

TEST(TraceArchiveTest, DiskBoundDeletesOldestSegmentsFirst) {
  TempDir dir;
  TraceArchiveOptions o = options_in(dir.path());
  o.max_disk_bytes = 64 * 1024;
  o.segment_bytes = 8 * 1024;
  auto archive = TraceArchive::open(o);
  constexpr uint64_t kSpans = 600;  // about 1 KiB each: ten times the bound
  for (uint64_t i = 0; i < kSpans; ++i) {
    archive->append({make_span(i, i)});
    if (i % 50 == 0) {
      ASSERT_TRUE(archive->flush());
      EXPECT_LE(directory_bytes(o.directory), o.max_disk_bytes);
    }
  }
  ASSERT_TRUE(archive->flush());
  EXPECT_LE(directory_bytes(o.directory), o.max_disk_bytes);
  EXPECT_LE(archive->stats().disk_bytes, o.max_disk_bytes);
  EXPECT_EQ(archive->stats().disk_bytes, directory_bytes(o.directory));
  EXPECT_EQ(archive->stats().written, kSpans);
  EXPECT_GE(archive->stats().segments, 4u);

  // What is left is the newest spans, without a gap.
  const auto kept = records(archive->recent(kSpans));
  ASSERT_GT(kept.size(), 20u);
  ASSERT_LT(kept.size(), kSpans);
  const uint64_t first = kSpans - kept.size();
  for (size_t k = 0; k < kept.size(); ++k) EXPECT_EQ(kept[k].trace_id, hex(first + k, 32)) << k;
  EXPECT_TRUE(archive->trace(hex(0, 32)).empty());
  EXPECT_EQ(archive->trace(hex(kSpans - 1, 32)).size(), 1u);

  archive->close();
  EXPECT_LE(directory_bytes(o.directory), o.max_disk_bytes);
  auto reopened = TraceArchive::open(o);
  EXPECT_EQ(reopened->recent(kSpans).size(), kept.size());
}

TEST(TraceArchiveTest, RetentionDeletesSegmentsWhoseSpansAreOld) {
  TempDir dir;
  TraceArchiveOptions o = options_in(dir.path());
  o.retention_seconds = 1;
  o.segment_bytes = 4 * 1024;
  {
    auto archive = TraceArchive::open(o);
    std::vector<SpanRecord> old;
    for (uint64_t i = 0; i < 20; ++i) old.push_back(make_span(1, i, std::chrono::hours(2)));
    archive->append(std::move(old));
    ASSERT_TRUE(archive->flush());
    EXPECT_TRUE(archive->trace(hex(1, 32)).empty());
    EXPECT_EQ(archive->stats().written, 20u);

    archive->append({make_span(2, 0), make_span(2, 1)});
    ASSERT_TRUE(archive->flush());
    EXPECT_EQ(archive->trace(hex(2, 32)).size(), 2u);
  }
  // Data older than the retention when the archive opens goes too.
  std::this_thread::sleep_for(1100ms);
  auto archive = TraceArchive::open(o);
  ASSERT_TRUE(archive->flush());
  for (int i = 0; i < 100 && archive->stats().disk_bytes > 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(archive->trace(hex(2, 32)).empty());
  EXPECT_EQ(archive->stats().disk_bytes, 0u);
}

TEST(TraceArchiveTest, NoAgeLimitKeepsOldSpans) {
  TempDir dir;
  TraceArchiveOptions o = options_in(dir.path());
  o.retention_seconds = 0;
  auto archive = TraceArchive::open(o);
  archive->append({make_span(1, 0, std::chrono::hours(24 * 365))});
  ASSERT_TRUE(archive->flush());
  std::this_thread::sleep_for(60ms);  // a few writer rounds
  EXPECT_EQ(archive->trace(hex(1, 32)).size(), 1u);
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// One segment of two blocks (spans 0-1, then span 2); returns its path.
fs::path two_block_segment(const TraceArchiveOptions& o) {
  auto archive = TraceArchive::open(o);
  archive->append({make_span(1, 0), make_span(1, 1)});
  EXPECT_TRUE(archive->flush());
  archive->append({make_span(1, 2)});
  archive->close();
  const std::vector<fs::path> files = segment_files(o.directory);
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? fs::path() : files[0];
}

TEST(TraceArchiveTest, TornLastBlockIsSkippedAndLaterSpansGoToANewSegment) {
  TempDir dir;
  const TraceArchiveOptions o = options_in(dir.path());
  const fs::path segment = two_block_segment(o);
  // A crash in the middle of writing the second block.
  const uint64_t size = fs::file_size(segment);
  fs::resize_file(segment, size - 20);
  {
    auto archive = TraceArchive::open(o);
    const auto spans = records(archive->trace(hex(1, 32)));
    ASSERT_EQ(spans.size(), 2u);
    EXPECT_EQ(spans[1].span_id, hex(2, 16));
    EXPECT_EQ(archive->recent(10).size(), 2u);
    archive->append({make_span(1, 3)});
  }
  auto archive = TraceArchive::open(o);
  const auto spans = records(archive->trace(hex(1, 32)));
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[2].span_id, hex(4, 16));
  // The torn segment, the one span 3 went to, and the one this open began.
  EXPECT_EQ(segment_files(o.directory).size(), 3u);
  EXPECT_FALSE(span_from_json("{\"trace_id\":\"ab"));
}

TEST(TraceArchiveTest, ABlockFailingItsChecksumEndsItsSegment) {
  TempDir dir;
  const TraceArchiveOptions o = options_in(dir.path());
  const fs::path segment = two_block_segment(o);
  std::string data = file_bytes(segment);
  // The header is 24 bytes: change one byte of the first block's payload.
  data[archive::kBlockHeaderBytes + 10] ^= 0x20;
  std::ofstream(segment, std::ios::binary | std::ios::trunc) << data;
  auto archive = TraceArchive::open(o);
  EXPECT_TRUE(archive->trace(hex(1, 32)).empty());
  EXPECT_TRUE(archive->recent(10).empty());
}

TEST(TraceArchiveTest, AFileThatIsNoSegmentIsRemovedAndOlderJsonLinesAreLeftAlone) {
  TempDir dir;
  const TraceArchiveOptions o = options_in(dir.path());
  fs::create_directories(o.directory);
  std::ofstream(o.directory / "spans-000000000007.seg") << "not a block at all, but long enough to hold a header";
  std::ofstream(o.directory / "spans-000000000003.jsonl") << "{\"trace_id\":\"ab\"}\n";
  auto archive = TraceArchive::open(o);
  EXPECT_FALSE(fs::exists(o.directory / "spans-000000000007.seg"));
  EXPECT_TRUE(fs::exists(o.directory / "spans-000000000003.jsonl"));
  EXPECT_TRUE(archive->recent(10).empty());
  archive->append({make_span(1, 0)});
  ASSERT_TRUE(archive->flush());
  EXPECT_EQ(archive->recent(10).size(), 1u);
  EXPECT_TRUE(fs::exists(o.directory / "spans-000000000008.seg"));  // numbering goes on after it
}

// Engine spans of `kinds` kinds of call (one shared CallNames each); every third one failed.
std::vector<StoredSpan> engine_spans(size_t count, size_t kinds) {
  std::vector<std::shared_ptr<const CallNames>> names;
  for (size_t k = 0; k < kinds; ++k) {
    auto n = std::make_shared<CallNames>();
    n->function_id = "svc::fn" + std::to_string(k);
    n->callee_worker_id = "worker-" + std::to_string(k);
    n->caller_worker_id = k % 2 ? "caller \"quoted\"" : "";
    n->trigger_type = k % 2 ? "http" : "call";
    n->span_name = "call " + n->function_id;
    n->service_name = "iii";
    n->internal = k == 0;
    names.push_back(std::move(n));
  }
  std::vector<StoredSpan> out;
  for (size_t i = 0; i < count; ++i) {
    EngineSpan e;
    for (size_t b = 0; b < 16; ++b) e.trace_id[b] = static_cast<uint8_t>(i / 3 + b), e.invocation_id[b] = static_cast<uint8_t>(i * 7 + b);
    for (size_t b = 0; b < 8; ++b) e.span_id[b] = static_cast<uint8_t>(i + b + 1);
    if (i % 3) e.parent_span_id = {1, 2, 3, 4, 5, 6, 7, static_cast<uint8_t>(i)};
    e.end_time_unix_nano = now_nanos();
    e.start_time_unix_nano = e.end_time_unix_nano - 1000 * i;
    e.status = i % 3 == 2 ? SpanStatus::kError : SpanStatus::kOk;
    e.kind = static_cast<uint8_t>(1 + i % 2);
    if (e.status == SpanStatus::kError) e.error = std::make_shared<CallError>(CallError{"boom", "it failed: \"" + std::to_string(i) + "\"\n"});
    e.names = names[i % kinds];
    out.emplace_back(std::move(e));
  }
  return out;
}

TEST(TraceArchiveTest, EngineSpansComeBackCompactAndExact) {
  TempDir dir;
  TraceArchiveOptions o = options_in(dir.path());
  o.segment_bytes = 4096;  // several segments: each defines the names it uses
  const std::vector<StoredSpan> spans = engine_spans(300, 3);
  {
    auto archive = TraceArchive::open(o);
    archive->append_stored(spans);
    ASSERT_TRUE(archive->flush());
    EXPECT_EQ(archive->stats().written, spans.size());
    EXPECT_GE(archive->stats().segments, 4u);
    // Ids, times and a reference to the names: far less than the ~600 bytes of a JSON line.
    EXPECT_LT(archive->stats().disk_bytes, spans.size() * 100);
  }
  auto archive = TraceArchive::open(o);
  const std::vector<StoredSpan> back = archive->recent(1000);
  ASSERT_EQ(back.size(), spans.size());
  for (size_t i = 0; i < back.size(); ++i) {
    ASSERT_NE(back[i].engine(), nullptr) << i;
    EXPECT_EQ(to_json(*back[i].record()), to_json(*spans[i].record())) << i;
    EXPECT_EQ(back[i].internal(), spans[i].internal()) << i;
  }
  // Spans of one kind read from one segment share their names.
  EXPECT_EQ(back[0].engine()->names.get(), back[3].engine()->names.get());
  EXPECT_NE(back[0].engine()->names.get(), back[1].engine()->names.get());

  const std::string trace = spans[6].trace_id_hex();  // spans 6, 7, 8
  const std::vector<StoredSpan> one = archive->trace(trace);
  ASSERT_EQ(one.size(), 3u);
  EXPECT_EQ(one[2].span_id_hex(), spans[8].span_id_hex());
  EXPECT_EQ(one[2].record()->status_message, spans[8].record()->status_message);
  EXPECT_TRUE(archive->trace("not hex").empty());
}

TEST(TraceArchiveTest, QueueBoundDropsAndCounts) {
  TempDir dir;
  TraceArchiveOptions o = options_in(dir.path());
  o.write_interval = 10s;  // the writer stays asleep while the queue fills
  std::vector<SpanRecord> many;
  for (uint64_t i = 0; i < 15; ++i) many.push_back(make_span(1, i));
  // What one span costs in the queue (as the memory store counts it).
  auto queued_bytes = [](const SpanRecord& s) { return StoredSpan(std::make_shared<const SpanRecord>(s)).approx_bytes(); };
  o.max_queue_bytes = queued_bytes(many[0]) * 10;
  // What the bound lets through, span by span (sizes differ a little).
  uint64_t queued = 0, expected_dropped = 0;
  for (const auto& s : many) {
    if (queued + queued_bytes(s) > o.max_queue_bytes) ++expected_dropped;
    else queued += queued_bytes(s);
  }
  ASSERT_GE(expected_dropped, 4u);
  auto archive = TraceArchive::open(o);
  archive->append(std::move(many));
  EXPECT_EQ(archive->stats().dropped, expected_dropped);
  ASSERT_TRUE(archive->flush());
  EXPECT_EQ(archive->stats().written + archive->stats().dropped, 15u);
  archive->close();
  archive->append({make_span(2, 0)});  // closed: refused and counted
  EXPECT_EQ(archive->stats().written + archive->stats().dropped, 16u);
}

TEST(TraceArchiveTest, OpenFailsClearlyWhenTheDirectoryCannotBeCreated) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  TraceArchiveOptions o;
  o.directory = dir.path() / "file" / "traces";
  try {
    TraceArchive::open(o);
    FAIL() << "open succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("trace archive"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find((dir.path() / "file").string()), std::string::npos) << e.what();
  }
}

TEST(TraceArchiveTest, AppendsFromManyThreadsAllArrive) {
  TempDir dir;
  auto archive = TraceArchive::open(options_in(dir.path()));
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 250; ++i) archive->append({make_span(t, i)});
    });
  for (auto& th : threads) th.join();
  ASSERT_TRUE(archive->flush());
  EXPECT_EQ(archive->stats().written, 1000u);
  std::set<std::string> keys;
  for (const auto& s : records(archive->recent(2000))) keys.insert(s.trace_id + s.span_id);
  EXPECT_EQ(keys.size(), 1000u);
}

}  // namespace
}  // namespace iii::obs
