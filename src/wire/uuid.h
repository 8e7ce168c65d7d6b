// UUID version 4 strings, as every id on the wire is (lowercase, hyphenated, 36 chars).
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace iii {

// A fresh random UUIDv4 from a fast per-thread generator. Unique, but not a secret:
// use new_secret_uuid() for anything that authenticates (reattach tokens, channel keys).
std::string new_uuid();

// The same, as its 36 characters in place (no allocation).
using UuidText = std::array<char, 36>;
UuidText new_uuid_text();

// The same with its 16 bytes (in RFC 4122 order), for a reader that would otherwise parse the
// text back (the call tracer keeps ids as bytes).
struct UuidWithBytes {
  UuidText text;
  std::array<unsigned char, 16> bytes;
};
UuidWithBytes new_uuid_with_bytes();

// A UUIDv4 whose bits come from the operating system's CSPRNG (getrandom(2), read ahead in
// blocks of 256 bytes per thread).
std::string new_secret_uuid();

// True for the canonical 8-4-4-4-12 hexadecimal form (any version, either case).
bool is_uuid(std::string_view text);

}  // namespace iii
