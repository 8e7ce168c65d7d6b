// The iii-exec `watch` matcher: the official semantics (root directory and extension only, `**`
// for depth, extension-less files never match), on absolute paths under a base directory.
#include "workers/exec/watch_glob.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace iii {
namespace {

WatchPattern pattern(std::string_view text) { return parse_watch_pattern(text, "/w"); }

TEST(ExecGlobTest, RootsAndRecursion) {
  EXPECT_EQ(pattern("steps/**/*.{ts,js}").root, "/w/steps");
  EXPECT_TRUE(pattern("steps/**/*.{ts,js}").recursive);
  EXPECT_EQ(pattern("config/*.json").root, "/w/config");
  EXPECT_FALSE(pattern("config/*.json").recursive);
  EXPECT_EQ(pattern("**/*.ts").root, "/w");
  EXPECT_EQ(pattern("*.ts").root, "/w");
  EXPECT_EQ(pattern("./src/../lib/**/*.ts").root, "/w/lib");
  EXPECT_EQ(pattern("/abs/dir/**/*.ts").root, "/abs/dir");
  EXPECT_EQ(pattern("src/main.ts").directory(), "/w/src");
}

TEST(ExecGlobTest, Extensions) {
  EXPECT_EQ(pattern("steps/**/*.{ts, js}").extensions, (std::vector<std::string>{"ts", "js"}));
  EXPECT_EQ(pattern("src/**/*.test.ts").extensions, (std::vector<std::string>{"ts"}));
  EXPECT_TRUE(pattern("src/**").extensions.empty());
  EXPECT_TRUE(pattern("src/*").extensions.empty());
  EXPECT_TRUE(pattern("src").extensions.empty());
  EXPECT_EQ(file_extension("a.tar.gz"), "gz");
  EXPECT_EQ(file_extension("Makefile"), "");
  EXPECT_EQ(file_extension(".env"), "");
}

TEST(ExecGlobTest, RecursivePatternMatchesAnyDepthByExtension) {
  const WatchPattern p = pattern("src/**/*.test.ts");
  EXPECT_TRUE(p.matches("/w/src/a.ts"));          // the file-name part is ignored
  EXPECT_TRUE(p.matches("/w/src/deep/er/b.test.ts"));
  EXPECT_FALSE(p.matches("/w/src/a.js"));
  EXPECT_FALSE(p.matches("/w/srcx/a.ts"));        // a sibling with the same prefix is not below src
  EXPECT_FALSE(p.matches("/w/a.ts"));
  EXPECT_FALSE(p.matches("/w/src/Makefile"));     // no extension: never
}

TEST(ExecGlobTest, FlatPatternMatchesTheRootOnly) {
  const WatchPattern p = pattern("config/*.json");
  EXPECT_TRUE(p.matches("/w/config/app.json"));
  EXPECT_FALSE(p.matches("/w/config/nested/app.json"));
  EXPECT_FALSE(p.matches("/w/config/app.yaml"));
}

TEST(ExecGlobTest, GroupsLiteralsAndPatternsWithoutExtension) {
  const WatchPattern g = pattern("**/*.{ts,js}");
  EXPECT_TRUE(g.matches("/w/a.ts"));
  EXPECT_TRUE(g.matches("/w/x/y/a.js"));
  EXPECT_FALSE(g.matches("/w/a.rs"));
  EXPECT_FALSE(g.matches("/other/a.ts"));
  const WatchPattern literal = pattern("config/app.json");
  EXPECT_TRUE(literal.literal);
  EXPECT_TRUE(literal.matches("/w/config/app.json"));
  EXPECT_FALSE(literal.matches("/w/config/other.json"));
  EXPECT_FALSE(pattern("src/**").matches("/w/src/a.ts"));
  EXPECT_FALSE(pattern("src").matches("/w/src/a.ts"));
}

TEST(ExecGlobTest, SeveralPatterns) {
  const std::vector<WatchPattern> ps{pattern("steps/**/*.ts"), pattern("src/**/*.js")};
  EXPECT_TRUE(any_watch_match(ps, "/w/steps/a.ts"));
  EXPECT_TRUE(any_watch_match(ps, "/w/src/a.js"));
  EXPECT_FALSE(any_watch_match(ps, "/w/src/a.ts"));
}

TEST(ExecGlobTest, MalformedPatternsAreRefused) {
  EXPECT_THROW(pattern(""), std::invalid_argument);
  EXPECT_THROW(pattern("  "), std::invalid_argument);
  EXPECT_THROW(pattern("src/*.{ts"), std::invalid_argument);
}

}  // namespace
}  // namespace iii
