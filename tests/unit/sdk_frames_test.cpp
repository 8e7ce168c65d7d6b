// The C++ SDK writes its outbound frames by hand and reads inbound ones with simdjson On-Demand.
// These tests pin both to what the former boost::json DOM code produced and accepted: every
// outbound frame must be byte-identical to json::serialize of the json::object the SDK used to
// build (same keys, same order, same escaping, null vs absent as before).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frames.h"
#include "inbound_frame.h"

namespace iii::detail {
namespace {

// ---- the former DOM-based builders, kept verbatim as the reference ---------------------------
namespace reference {

void put_if_not_null(json::object& frame, const char* key, const json::value& value) {
  if (!value.is_null()) frame[key] = value;
}
json::object error_object(const WireError& error) {
  json::object body{{"code", error.code}, {"message", error.message}};
  if (error.stacktrace) body["stacktrace"] = *error.stacktrace;
  return body;
}
std::string register_function(const std::string& id, const FunctionOptions& options) {
  json::object frame{{"type", "registerfunction"}, {"id", id}};
  if (!options.description.empty()) frame["description"] = options.description;
  put_if_not_null(frame, "request_format", options.request_format);
  put_if_not_null(frame, "response_format", options.response_format);
  put_if_not_null(frame, "metadata", options.metadata);
  return json::serialize(frame);
}
std::string register_trigger_type(const std::string& id, const std::string& description,
                                  const TriggerTypeOptions& options) {
  json::object frame{{"type", "registertriggertype"}, {"id", id}, {"description", description}};
  put_if_not_null(frame, "trigger_request_format", options.trigger_request_format);
  put_if_not_null(frame, "call_request_format", options.call_request_format);
  return json::serialize(frame);
}
std::string register_trigger(const TriggerConfig& trigger) {
  json::object frame{{"type", "registertrigger"},
                     {"id", trigger.id},
                     {"trigger_type", trigger.trigger_type},
                     {"function_id", trigger.function_id},
                     {"config", trigger.config}};
  put_if_not_null(frame, "metadata", trigger.metadata);
  return json::serialize(frame);
}
std::string trigger_registration_result(const TriggerConfig& trigger, const WireError* error) {
  json::object frame{{"type", "triggerregistrationresult"},
                     {"id", trigger.id},
                     {"trigger_type", trigger.trigger_type},
                     {"function_id", trigger.function_id}};
  if (error) frame["error"] = error_object(*error);
  return json::serialize(frame);
}
std::string invoke_function(const std::string* invocation_id, const std::string& function_id,
                            const json::value& data, const TriggerAction& action, const json::value& metadata) {
  json::object frame{{"type", "invokefunction"}};
  if (invocation_id) frame["invocation_id"] = *invocation_id;
  frame["function_id"] = function_id;
  frame["data"] = data;
  if (std::holds_alternative<Void>(action)) {
    frame["action"] = {{"type", "void"}};
  } else if (auto* enqueue = std::get_if<Enqueue>(&action)) {
    frame["action"] = {{"type", "enqueue"}, {"queue", enqueue->queue}};
  }
  put_if_not_null(frame, "metadata", metadata);
  return json::serialize(frame);
}
std::string invocation_result(const std::string& invocation_id, const std::string& function_id,
                              const json::value* result, const WireError* error) {
  json::object frame{{"type", "invocationresult"}, {"invocation_id", invocation_id}, {"function_id", function_id}};
  if (error) {
    frame["error"] = error_object(*error);
  } else if (result && !result->is_null()) {
    frame["result"] = *result;
  }
  return json::serialize(frame);
}
std::string reattach(const std::string& previous_worker_id, const std::string& reattach_token) {
  json::object frame{{"type", "reattach"}, {"previous_worker_id", previous_worker_id}};
  if (!reattach_token.empty()) frame["reattach_token"] = reattach_token;
  return json::serialize(frame);
}

}  // namespace reference

// Strings that exercise every escaping rule: quotes, backslashes, each control character, DEL,
// multi-byte UTF-8, and a long run that crosses the writer's growth steps.
std::vector<std::string> tricky_strings() {
  std::vector<std::string> out{"", "plain::id", "q\"uo\"te", "back\\slash\\", "new\nline\r\ttab",
                               "\b\f", "slash/ok", "del\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                               std::string("nul\0byte", 8), std::string(3000, 'x') + "\"" + std::string(5, '\x01')};
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
  out.push_back(controls);
  return out;
}

std::vector<json::value> tricky_values() {
  json::value deep = 1;
  for (int i = 0; i < 30; ++i) deep = json::array{deep};
  json::object big;
  for (int i = 0; i < 200; ++i) big["key" + std::to_string(i)] = json::array{i, "v\"" + std::to_string(i), 1.5 * i};
  return {nullptr,
          true,
          0,
          -42,
          std::uint64_t(18446744073709551615ull),
          3.25,
          1e300,
          "str\"ing\n",
          json::array{},
          json::object{},
          json::parse(R"({"a":[1,{"b":null}],"c":"\u0001\u00e9"})"),
          deep,
          big,
          json::value(std::string(70000, 'p'))};
}

TEST(SdkFrames, InvokeFunctionMatchesTheDomBuilderByteForByte) {
  const std::vector<TriggerAction> actions{std::monostate{}, Void{}, Enqueue{"q\"ueue\\"}};
  for (const auto& id : tricky_strings()) {
    for (const auto& data : tricky_values()) {
      for (const auto& action : actions) {
        for (const json::value& metadata : {json::value(nullptr), json::value{{"trace", id}}}) {
          EXPECT_EQ(invoke_function_frame(&id, "fn::" + id, data, action, metadata),
                    reference::invoke_function(&id, "fn::" + id, data, action, metadata));
          EXPECT_EQ(invoke_function_frame(nullptr, id, data, action, metadata),
                    reference::invoke_function(nullptr, id, data, action, metadata));
        }
      }
    }
  }
}

TEST(SdkFrames, InvocationResultMatchesTheDomBuilderByteForByte) {
  for (const auto& id : tricky_strings()) {
    for (const auto& result : tricky_values()) {
      EXPECT_EQ(invocation_result_frame(id, "f", &result, nullptr), reference::invocation_result(id, "f", &result, nullptr));
    }
    EXPECT_EQ(invocation_result_frame("i", id, nullptr, nullptr), reference::invocation_result("i", id, nullptr, nullptr));
    WireError plain{"code\"" + id, "message\n" + id, std::nullopt};
    WireError traced{"c", id, "at " + id};
    const json::value result = 1;
    for (const auto* error : {&plain, &traced}) {
      EXPECT_EQ(invocation_result_frame(id, id, &result, error), reference::invocation_result(id, id, &result, error));
    }
  }
}

// The call path writes both frames into one reused buffer of its thread: what a previous, bigger
// or smaller frame left in it must never leak into the next.
TEST(SdkFrames, FramesWrittenIntoAReusedBufferMatchFreshOnes) {
  std::string& buffer = iii::detail::frame_buffer();
  for (const auto& id : tricky_strings()) {
    for (const auto& value : tricky_values()) {
      iii::detail::write_invoke_function_frame(buffer, &id, "fn", value, TriggerAction{}, nullptr);
      EXPECT_EQ(buffer, reference::invoke_function(&id, "fn", value, TriggerAction{}, nullptr));
      iii::detail::write_invocation_result_frame(buffer, id, "fn", &value, nullptr);
      EXPECT_EQ(buffer, reference::invocation_result(id, "fn", &value, nullptr));
      iii::detail::release_frame_buffer(buffer);
    }
  }
  iii::detail::write_invocation_result_frame(buffer, "i", "f", nullptr, nullptr);
  EXPECT_EQ(buffer, reference::invocation_result("i", "f", nullptr, nullptr));
  buffer.assign(3u << 20, 'x');  // a 3 MB frame was sent: its memory is not kept
  iii::detail::release_frame_buffer(buffer);
  EXPECT_LE(buffer.capacity(), size_t{1} << 20);
}

TEST(SdkFrames, RegistrationFramesMatchTheDomBuilderByteForByte) {
  for (const auto& text : tricky_strings()) {
    for (const auto& value : tricky_values()) {
      FunctionOptions function{text, value, value, value};
      EXPECT_EQ(register_function_frame(text, function), reference::register_function(text, function));
      TriggerTypeOptions type{value, value};
      EXPECT_EQ(register_trigger_type_frame(text, text, type), reference::register_trigger_type(text, text, type));
      TriggerConfig trigger{text, text + "t", text + "f", value, value};
      EXPECT_EQ(register_trigger_frame(trigger), reference::register_trigger(trigger));
    }
    TriggerConfig trigger{text, "type", "fn", nullptr, nullptr};
    WireError error{"trigger_registration_failed", text, std::nullopt};
    EXPECT_EQ(trigger_registration_result_frame(trigger, nullptr), reference::trigger_registration_result(trigger, nullptr));
    EXPECT_EQ(trigger_registration_result_frame(trigger, &error), reference::trigger_registration_result(trigger, &error));
    EXPECT_EQ(reattach_frame(text, text), reference::reattach(text, text));
    EXPECT_EQ(unregister_function_frame(text), json::serialize(json::object{{"type", "unregisterfunction"}, {"id", text}}));
    EXPECT_EQ(unregister_trigger_type_frame(text),
              json::serialize(json::object{{"type", "unregistertriggertype"}, {"id", text}}));
    EXPECT_EQ(unregister_trigger_frame(text, text + "!"),
              json::serialize(json::object{{"type", "unregistertrigger"}, {"id", text}, {"trigger_type", text + "!"}}));
  }
}

TEST(SdkFrames, NullAndAbsentFieldsAreWrittenAsBefore) {
  // data is always present (explicit null); metadata and result are omitted when null.
  EXPECT_EQ(invoke_function_frame(nullptr, "f", nullptr, Void{}, nullptr),
            R"({"type":"invokefunction","function_id":"f","data":null,"action":{"type":"void"}})");
  const json::value null_result;
  EXPECT_EQ(invocation_result_frame("i", "f", &null_result, nullptr),
            R"({"type":"invocationresult","invocation_id":"i","function_id":"f"})");
  EXPECT_EQ(register_trigger_frame({"t", "cron", "f", nullptr, nullptr}),
            R"({"type":"registertrigger","id":"t","trigger_type":"cron","function_id":"f","config":null})");
  EXPECT_EQ(reattach_frame("w", ""), R"({"type":"reattach","previous_worker_id":"w"})");
  EXPECT_EQ(pong_frame(), R"({"type":"pong"})");
}

// ---- inbound --------------------------------------------------------------------------------

TEST(SdkInboundFrame, ReadsStringsUnescapedAndPayloadsRaw) {
  InboundFrame frame;
  ASSERT_TRUE(read_inbound_frame(
      R"({"data": {"a":[1, 2]} ,"invocation_id":"i\"d\\\u00e9\n","type":"invokefunction","function_id":"f","x":{"y":[1]}})",
      frame));
  EXPECT_EQ(frame.type, "invokefunction");
  EXPECT_EQ(frame.invocation_id, "i\"d\\\xc3\xa9\n");
  EXPECT_EQ(frame.function_id, "f");
  ASSERT_TRUE(frame.data);
  json::value data;
  ASSERT_TRUE(parse_raw_value(frame.data, data));
  EXPECT_EQ(data, json::parse(R"({"a":[1,2]})"));
  EXPECT_FALSE(frame.result);
}

TEST(SdkInboundFrame, ScalarPayloadsAndNullsReadAsTheDomDid) {
  for (const char* scalar : {"12", "-1.5e3", "true", "false", R"("s\"")"}) {
    InboundFrame frame;
    std::string text = std::string(R"({"type":"invocationresult","result":)") + scalar + " }";
    ASSERT_TRUE(read_inbound_frame(text, frame)) << text;
    json::value result;
    ASSERT_TRUE(parse_raw_value(frame.result, result));
    EXPECT_EQ(result, json::parse(scalar));
  }
  InboundFrame frame;
  ASSERT_TRUE(read_inbound_frame(R"({"type":"invocationresult","result":null,"error":null,"id":null,"worker_id":7})", frame));
  EXPECT_FALSE(frame.result);  // null and absent both read as null
  EXPECT_FALSE(frame.error);
  EXPECT_FALSE(frame.id);         // non-strings read as absent, like the former string_field()
  EXPECT_FALSE(frame.worker_id);
  json::value result = 1;
  ASSERT_TRUE(parse_raw_value(frame.result, result));
  EXPECT_TRUE(result.is_null());
}

TEST(SdkInboundFrame, LastRepeatedKeyWins) {
  InboundFrame frame;
  ASSERT_TRUE(read_inbound_frame(R"({"type":"ping","type":"invokefunction","data":1,"data":[2]})", frame));
  EXPECT_EQ(frame.type, "invokefunction");
  EXPECT_EQ(frame.data, "[2]");
}

TEST(SdkInboundFrame, RejectsWhatIsNotAJsonObject) {
  InboundFrame frame;
  for (const char* bad : {"", "[]", "42", "\"type\"", "{", R"({"type":"ping")", R"({"type":"pi)", "{type:1}",
                          "{\"type\":\"\xff\"}"}) {
    EXPECT_FALSE(read_inbound_frame(bad, frame)) << bad;
  }
  json::value out;
  EXPECT_FALSE(parse_raw_value(std::string_view("[1,"), out));
  EXPECT_FALSE(parse_raw_value(std::string_view("{\"a\":1} x"), out));
}

TEST(SdkInboundFrame, LargeFramesUseAThrowAwayParserAndStayValid) {
  const std::string pad(3u << 20, 'z');
  const std::string text = R"({"type":"invokefunction","function_id":"f","data":{"pad":")" + pad + R"("}})";
  InboundFrame frame;
  ASSERT_TRUE(read_inbound_frame(text, frame));
  json::value data;
  ASSERT_TRUE(parse_raw_value(frame.data, data));
  EXPECT_EQ(data.at("pad").as_string().size(), pad.size());
  ASSERT_TRUE(read_inbound_frame(R"({"type":"ping"})", frame));  // back to the reused parser
  EXPECT_EQ(frame.type, "ping");
}

// A frame from the WebSocket reader has padding after it: it is read where it lies, so the raw
// payload is a view into the frame itself, and the verdicts are those of the copying path.
TEST(SdkInboundFrame, PaddedFramesAreReadInPlace) {
  const std::string frame_text = R"({"type":"invokefunction","function_id":"f","data":{"a":[1,"x"]}})";
  std::string buffer = frame_text + std::string(64, '\xff');  // padding of any content
  const std::string_view text(buffer.data(), frame_text.size());
  InboundFrame frame;
  ASSERT_TRUE(read_inbound_frame(text, frame, 64));
  ASSERT_TRUE(frame.data);
  EXPECT_EQ(*frame.data, R"({"a":[1,"x"]})");
  EXPECT_GE(frame.data->data(), text.data());
  EXPECT_LE(frame.data->data() + frame.data->size(), text.data() + text.size());
  InboundFrame copied;
  ASSERT_TRUE(read_inbound_frame(text, copied, 63));  // too little padding: read from a copy
  EXPECT_EQ(*copied.data, *frame.data);
  EXPECT_FALSE(copied.data->data() >= text.data() && copied.data->data() < text.data() + text.size());
  for (std::string bad : {"{\"type\":", "[1]", "{\"type\":\"x\",}", "{\"type\":\"x\",\"data\":{\"a\":1}"}) {
    bad.append(64, '}');
    EXPECT_FALSE(read_inbound_frame(std::string_view(bad).substr(0, bad.size() - 64), frame, 64)) << bad;
  }
}

TEST(SdkInboundFrame, WhatTheWriterWritesReadsBack) {
  for (const auto& id : tricky_strings()) {
    for (const auto& value : tricky_values()) {
      InboundFrame frame;
      const std::string text = invocation_result_frame(id, id, &value, nullptr);
      ASSERT_TRUE(read_inbound_frame(text, frame));
      EXPECT_EQ(frame.invocation_id, id);
      json::value result;
      ASSERT_TRUE(parse_raw_value(frame.result, result));
      EXPECT_EQ(result, value);
    }
  }
}

}  // namespace
}  // namespace iii::detail
