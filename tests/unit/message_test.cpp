#include "core/message.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "wire/json_writer.h"

namespace iii {
namespace {

TEST(MessageParse, TypeMayComeLastAndUnknownKeysAreIgnored) {
  Message m;
  ASSERT_EQ(parse_message(R"({"id":"t1","trigger_type":"cron","function_id":"a::b","config":{"expression":"* * * * * *"},"message_type":"x","type":"registertrigger"})", m), "");
  EXPECT_EQ(m.type, MessageType::kRegisterTrigger);
  EXPECT_EQ(*m.id, "t1");
  EXPECT_EQ(*m.trigger_type, "cron");
  EXPECT_EQ(*m.config, R"({"expression":"* * * * * *"})");
  EXPECT_EQ(validate_required(m), "");
}

TEST(MessageParse, RawDataIsKeptByteForByte) {
  Message m;
  ASSERT_EQ(parse_message(R"({"type":"invokefunction","invocation_id":"x","function_id":"f","data":{ "b" : [1, 2.50, "\u00e9"] , "a":null }})", m), "");
  EXPECT_EQ(*m.data, R"({ "b" : [1, 2.50, "\u00e9"] , "a":null })");
  EXPECT_EQ(m.action, ActionKind::kSync);
}

TEST(MessageParse, ScalarDataAndMissingDataAndNullInvocationId) {
  Message m;
  ASSERT_EQ(parse_message(R"({"type":"invokefunction","invocation_id":null,"function_id":"f","data":42 ,"action":{"type":"void"}})", m), "");
  EXPECT_EQ(*m.data, "42");
  EXPECT_FALSE(m.invocation_id.has_value());
  EXPECT_EQ(m.action, ActionKind::kVoid);
  ASSERT_EQ(parse_message(R"({"type":"invokefunction","function_id":"f"})", m), "");
  EXPECT_FALSE(m.data.has_value());
}

TEST(MessageParse, EnqueueActionNeedsQueue) {
  Message m;
  ASSERT_EQ(parse_message(R"({"type":"invokefunction","function_id":"f","action":{"type":"enqueue","queue":"jobs"}})", m), "");
  EXPECT_EQ(m.action, ActionKind::kEnqueue);
  EXPECT_EQ(*m.action_queue, "jobs");
  ASSERT_EQ(parse_message(R"({"type":"invokefunction","function_id":"f","action":{"type":"enqueue"}})", m), "");
  EXPECT_NE(validate_required(m), "");
  EXPECT_NE(parse_message(R"({"type":"invokefunction","function_id":"f","action":{"type":"teleport"}})", m), "");
}

TEST(MessageParse, RejectsBadFrames) {
  Message m;
  EXPECT_NE(parse_message("not json", m), "");
  EXPECT_NE(parse_message("[1,2]", m), "");
  EXPECT_NE(parse_message("\"str\"", m), "");
  EXPECT_NE(parse_message("{}", m), "");  // no type
  EXPECT_NE(parse_message(R"({"type":"registerfunction","id":5})", m), "");
  EXPECT_NE(parse_message(R"({"type":"invokefunction","function_id":"f","data":{"a":01x}})", m), "");
  EXPECT_NE(parse_message(R"({"type":"invokefunction","function_id":"f","data":tru})", m), "");
  EXPECT_NE(parse_message(R"({"type":"ping"} trailing)", m), "");
  EXPECT_NE(parse_message(R"({"type":"ping")", m), "");
  ASSERT_EQ(parse_message(R"({"type":"invokefunction"})", m), "");
  EXPECT_NE(validate_required(m), "");
}

// The frame is checked in one On-Demand pass that walks every value: whatever the engine would
// splice into another worker's frame, and keys it ignores, must be valid JSON.
TEST(MessageParse, EveryValueIsCheckedIncludingIgnoredKeys) {
  const char* invalid[] = {
      R"({"type":"ping","data":{"a":}})",          R"({"type":"ping","data":[1,2,]})",
      R"({"type":"ping","data":"\q"})",           R"({"type":"ping","data":"\ud800"})",
      R"({"type":"ping","data":01})",              R"({"type":"ping","data":-})",
      R"({"type":"ping","data":1e400})",           R"({"type":"ping","result":{"a" 1}})",
      R"({"type":"ping","unknown":{"a" 1}})",      R"({"type":"ping","unknown":tru})",
      R"({"type":"ping","unknown":nul})",          R"({"type":"ping","unknown":[{"x":[}]})",
      R"({"type":"ping","action":{"type":"void","x":[}})",
      R"({"type":"ping"}{})",                      R"({"type":"ping"} x)",
      R"({"type":"invocationresult","invocation_id":"x","error":{"code":"E",}})",
  };
  for (const char* frame : invalid) {
    Message m;
    EXPECT_NE(parse_message(frame, m), "") << frame;
  }
  const char* valid[] = {
      R"({"type":"ping","data":18446744073709551615})", R"({"type":"ping","data":-9223372036854775808})",
      R"({"type":"ping","data":1.5e-400})",             R"({"type":"ping","unknown":{"deep":[[[{"a":null}]]]}})",
      R"({"type":"ping","data":"\ud83d\ude00"})",     R"(  {"type":"ping"}  )",
  };
  for (const char* frame : valid) {
    Message m;
    EXPECT_EQ(parse_message(frame, m), "") << frame;
  }
}

// Only strings with a backslash are unescaped to check them (stage 1 has refused control
// characters and invalid UTF-8 in every string): escapes anywhere, in keys or values, nested or in
// keys the engine ignores, still get their verdict, and strings without one pass as they are.
TEST(MessageParse, StringsAreCheckedForEscapesWhereverTheyAre) {
  const std::string long_plain(300, 'x');
  const std::string invalid[] = {
      R"({"type":"ping","data":{"a\q":1}})",
      R"({"type":"ping","data":{"ok":"plain","b":"\x"}})",
      R"({"type":"ping","data":["plain","a\"b\q"]})",
      R"({"type":"ping","unknown":{"k":"\u12"}})",
      R"({"type":"ping","unknown":{"\ud800":1}})",
      "{\"type\":\"ping\",\"data\":\"a\x01b\"}",
      "{\"type\":\"ping\",\"data\":{\"k\x1f\":1}}",
      "{\"type\":\"ping\",\"data\":\"\xc3\x28\"}",
      R"({"type":"ping","data":")" + long_plain + R"(\q"})",
      // A string followed by a stray ':' must not pass for a key (make fuzz found the last one).
      R"({"type":"ping","unknown":"v":1})",
      R"({"type":"ping","data":["a":1]})",
      R"({"type":"invokefunction","x":"{a":2,"b":3},"y":"z"})" "\n",
  };
  for (const std::string& frame : invalid) {
    Message m;
    EXPECT_NE(parse_message(frame, m), "") << frame;
    std::string padded = frame + std::string(64, '}');  // and read in place, whatever follows
    EXPECT_NE(parse_message(std::string_view(padded).substr(0, frame.size()), m, 64), "") << frame;
  }
  const std::string valid[] = {
      R"({"type":"ping","data":{"a\"b":"c\\d\/e\u00e9\n"}})",
      R"({"type":"ping","data":["{not an object}","[x]",":,"]})",
      R"({"type":"ping","data":{")" + long_plain + R"(":")" + long_plain + R"("}})",
      R"({"type":"ping","data":"\\"})",
  };
  for (const std::string& frame : valid) {
    Message m;
    EXPECT_EQ(parse_message(frame, m), "") << frame;
  }
}

TEST(MessageParse, RawSlicesEndAtTheirValue) {
  Message m;
  ASSERT_EQ(parse_message(R"({"type":"invocationresult","invocation_id":"i","result":  [1, {"b":[]}]  ,"data":"s" , "config":true})", m), "");
  EXPECT_EQ(*m.result, R"([1, {"b":[]}])");
  EXPECT_EQ(*m.data, R"("s")");
  EXPECT_EQ(*m.config, "true");
}

// A WebSocket message has readable padding after it (ws::kMessagePadding): the frame is parsed
// where it lies, the views point into it, and every verdict is the copying path's.
TEST(MessageParse, PaddedFramesAreParsedInPlaceWithTheSameVerdicts) {
  const std::vector<std::string> frames = {
      R"({"type":"invokefunction","invocation_id":"i","function_id":"f","data":{"a":[1,"\u00e9"]}})",
      R"({"type":"invocationresult","invocation_id":"i","result":12})",
      R"({"type":"invokefunction","data":{"a":1})",
      R"({"type":"ping"} x)",
      R"([1,2])",
      R"({"type":"x","data":"\q"})",
  };
  for (const std::string& text : frames) {
    std::string buffer = text + std::string(64, '}');  // padding of any content
    const std::string_view frame(buffer.data(), text.size());
    Message copied, in_place;
    const std::string copied_error = parse_message(frame, copied);
    // The same verdict. (Which reason an unbalanced frame gets may depend on the padding's
    // bytes, in the copy too: simdjson's check of where the root object ends looks at them.)
    EXPECT_EQ(parse_message(frame, in_place, 64).empty(), copied_error.empty()) << text;
    if (!copied_error.empty()) continue;
    EXPECT_EQ(in_place.type, copied.type) << text;
    EXPECT_EQ(in_place.data, copied.data) << text;
    EXPECT_EQ(in_place.result, copied.result) << text;
    const std::string_view raw = in_place.data ? *in_place.data : *in_place.result;
    EXPECT_GE(raw.data(), frame.data()) << text;  // a view into the frame, not into a copy
    EXPECT_LE(raw.data() + raw.size(), frame.data() + frame.size()) << text;
  }
}

TEST(MessageParse, ErrorBodyIsCoercedLeniently) {
  Message m;
  ASSERT_EQ(parse_message(R"({"type":"invocationresult","invocation_id":"i","error":{"code":"invocation_failed","message":"boom","stacktrace":"at x"}})", m), "");
  ASSERT_TRUE(m.error);
  EXPECT_EQ(m.error->code, "invocation_failed");
  EXPECT_EQ(*m.error->stacktrace, "at x");
  ASSERT_EQ(parse_message(R"({"type":"invocationresult","invocation_id":"i","error":{"code":3}})", m), "");
  EXPECT_EQ(m.error->code, "UNKNOWN");
  EXPECT_EQ(m.error->message, R"({"code":3})");
}

TEST(MessageParse, UnknownTypeParsesAsUnknown) {
  Message m;
  ASSERT_EQ(parse_message(R"({"type":"teleport","x":1})", m), "");
  EXPECT_EQ(m.type, MessageType::kUnknown);
  EXPECT_EQ(m.type_name, "teleport");
}

TEST(CallerSplice, AddsKeyLastAndLeavesNonObjectsAlone) {
  auto spliced = [](std::string_view data, std::string_view worker_id, std::string out = {}) {
    append_with_caller(out, data, worker_id);
    return out;
  };
  EXPECT_EQ(spliced(R"({"a":1})", "w"), R"({"a":1,"_caller_worker_id":"w"})");
  EXPECT_EQ(spliced(R"({ })", "w"), R"({ "_caller_worker_id":"w"})");
  EXPECT_EQ(spliced("[1]", "w"), "[1]");
  EXPECT_EQ(spliced("\"s\"", "w"), "\"s\"");
  EXPECT_EQ(spliced(R"({"a":1})", "w", R"("data":)"), R"("data":{"a":1,"_caller_worker_id":"w"})");  // appends
}

TEST(JsonWriter, EscapesControlCharacters) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
  EXPECT_EQ(FrameWriter().string("k", "v").raw("n", "1").boolean("b", true).finish(), R"({"k":"v","n":1,"b":true})");
}

// Literal keys and values are checked when compiled and copied as they are; a literal that holds
// something JSON escapes, and any text that is not a literal, are escaped when written.
TEST(JsonWriter, LiteralsAndTextAreWrittenAlike) {
  const std::string quote = "a\"b";
  const std::string_view control = "c\nd";
  EXPECT_EQ(FrameWriter().string("type", "ping").string("q\"k", "x\\y").finish(), R"({"type":"ping","q\"k":"x\\y"})");
  EXPECT_EQ(FrameWriter().string(quote, control).string(std::string("id"), std::string_view("plain")).finish(),
            R"({"a\"b":"c\nd","id":"plain"})");
}

// The writer skips plain text eight bytes at a time: every escape at every position of a word,
// UTF-8 and DEL (0x7f, not escaped) around them, against a byte-by-byte reference.
TEST(JsonWriter, EscapesAtEveryOffsetOfLongText) {
  auto reference = [](std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  };
  const std::string base = "h\xc3\xa9llo w\x7forld, plain text long enough for several words";
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f', ' '}) {
    for (size_t at = 0; at < 24; ++at) {
      std::string text = base;
      text.insert(at, 1, special);
      std::string out;
      append_json_string(out, text);
      EXPECT_EQ(out, reference(text)) << "special " << int(special) << " at " << at;
    }
  }
}

}  // namespace
}  // namespace iii
