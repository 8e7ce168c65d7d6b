// The iii-http pipeline, responses streamed through channels, HEAD, CORS preflight and HTTP/1.0.
#include "http_exchange_fixture.h"

namespace iii {
namespace {

// Its own suite name: the fixture lives in an anonymous namespace, one copy per test file.
class HttpExchangeStreamTest : public HttpExchangeTest {};

TEST_F(HttpExchangeStreamTest, NoResultStreamsTheResponseChannel) {
  std::shared_ptr<Channel> out;
  function("stream", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    done(Outcome::success(""));  // no value: streaming mode
  });
  route("stream", R"({"api_path":"/stream"})");
  send(Request{"GET", "/stream"});
  ASSERT_NE(out, nullptr);
  EXPECT_FALSE(last().finished);
  ASSERT_TRUE(out->take(ChannelDirection::kWrite));
  out->push(ChannelItem{false, R"({"type":"set_status","status_code":201})"});
  out->push(ChannelItem{false, R"({"type":"set_headers","headers":{"content-type":"text/csv","x-a":"1"}})"});
  last().run();
  EXPECT_EQ(last().writes, 0);  // the response starts at the first body chunk
  out->push(ChannelItem{true, "a,b\n"});
  last().run();
  out->push(ChannelItem{false, R"({"type":"set_status","status_code":500})"});  // too late: ignored
  out->push(ChannelItem{true, "1,2\n"});
  out->finish();
  last().run();
  ASSERT_TRUE(last().finished);
  EXPECT_TRUE(last().kept_alive);
  ParsedResponse r = parse_wire(last().wire);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("content-type"), "text/csv");
  EXPECT_EQ(r.header("x-a"), "1");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.body, "a,b\n1,2\n");
  EXPECT_EQ(hub_.size(), 0u);
}

// The server completes most writes inline; a streamed response then loops instead of recursing
// once per batch, and an envelope response still ends the exchange.
TEST_F(HttpExchangeStreamTest, WritesThatCompleteInlineStreamWithoutRecursion) {
  inline_writes_ = true;
  std::shared_ptr<Channel> out;
  function("stream", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    done(Outcome::success(""));
  });
  route("stream", R"({"api_path":"/stream"})");
  returns("plain", R"({"status_code":200,"body":{"ok":true}})");
  route("plain", R"({"api_path":"/plain"})");

  ParsedResponse plain = send(Request{"GET", "/plain"});
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, R"({"ok":true})");
  EXPECT_TRUE(last().finished);

  send(Request{"GET", "/stream"});
  ASSERT_NE(out, nullptr);
  ASSERT_TRUE(out->take(ChannelDirection::kWrite));
  const std::string chunk(200 * 1024, 'x');  // two chunks exceed one 256 KB batch
  std::string expected;
  for (int i = 0; i < 12; ++i) {
    out->push(ChannelItem{true, chunk + std::to_string(i)});
    expected += chunk + std::to_string(i);
  }
  out->finish();
  last().run();
  ASSERT_TRUE(last().finished);
  EXPECT_GE(last().writes, 6);
  EXPECT_LE(last().max_write_depth, 2);  // the head's write, then one loop: not one level per batch
  ParsedResponse r = parse_wire(last().wire);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(hub_.size(), 0u);
}

TEST_F(HttpExchangeStreamTest, StreamWithoutBodyEndsWhenTheWriterCloses) {
  std::shared_ptr<Channel> out;
  function("s", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    out->take(ChannelDirection::kWrite);
    out->push(ChannelItem{false, R"({"type":"set_status","status_code":204})"});
    out->finish();
    done(Outcome::success(""));
  });
  route("s", R"({"api_path":"/s"})");
  ParsedResponse r = send(Request{"GET", "/s"});
  ASSERT_TRUE(last().finished);
  EXPECT_TRUE(last().kept_alive);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("transfer-encoding"), "<absent>");  // a 204 has no body, not even a last chunk
  EXPECT_TRUE(last().wire.ends_with("\r\n\r\n"));
}

TEST_F(HttpExchangeStreamTest, AnEnvelopeWinsOverControlMessagesAlreadyRead) {
  function("mixed", [&](const InProcessCall& call, Completion done) {
    auto out = channel_of(json::parse(call.data), "response");
    out->take(ChannelDirection::kWrite);
    out->push(ChannelItem{false, R"({"type":"set_status","status_code":418})"});
    done(Outcome::success(R"({"status_code":200,"body":"env"})"));
  });
  route("mixed", R"({"api_path":"/mixed"})");
  ParsedResponse r = send(Request{"GET", "/mixed"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"("env")");
}

TEST_F(HttpExchangeStreamTest, HeadUsesTheGetRouteWithoutABody) {
  returns("page", R"({"body":{"big":"payload"}})");
  route("page", R"({"api_path":"/page"})");
  ParsedResponse r = send(Request{"HEAD", "/page"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "17");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(calls_["page"][0].at("method").as_string(), "HEAD");
}

TEST_F(HttpExchangeStreamTest, OptionsPreflightIsAnsweredByCors) {
  returns("h", "{}");
  route("h", R"({"api_path":"/x","http_method":"POST"})");
  Request pre{"OPTIONS", "/x"};
  pre.headers = {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}};
  ParsedResponse r = send(std::move(pre));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-allow-methods"), "*");
  EXPECT_EQ(r.header("access-control-allow-headers"), "*");
  EXPECT_EQ(calls_["h"].size(), 0u);
}

TEST_F(HttpExchangeStreamTest, HttpOneZeroClosesAfterAStream) {
  std::shared_ptr<Channel> out;
  function("s", [&](const InProcessCall& call, Completion done) {
    out = channel_of(json::parse(call.data), "response");
    out->take(ChannelDirection::kWrite);
    out->push(ChannelItem{true, "raw"});
    out->finish();
    done(Outcome::success(""));
  });
  route("s", R"({"api_path":"/s"})");
  send(Request{"GET", "/s"}, HttpExchangeOptions{true, true});
  ASSERT_TRUE(last().finished);
  EXPECT_FALSE(last().kept_alive);
  EXPECT_EQ(last().wire.substr(last().wire.find("\r\n\r\n") + 4), "raw");
  EXPECT_EQ(last().wire.find("chunked"), std::string::npos);
}

}  // namespace
}  // namespace iii
