// The storage behind the iii-stream built-in: items addressed by (stream, group, item id),
// holding raw JSON text values (docs/builtins.md §6).
//
// Contract (every implementation passes tests/unit/stream_store_test.cpp):
//  * A group exists while it holds at least one item; a stream exists while one of its groups
//    does. Listing never shows an emptied group or stream; listing an unknown one is empty.
//  * Values are opaque. REQUIRES: every value handed to the store is one complete, valid JSON
//    text; callers read back exactly the bytes they wrote.
//  * Names (stream, group, item id) are arbitrary byte strings (empty included) compared byte by
//    byte, except that a stream or group name may not contain a NUL byte: such a call throws
//    std::invalid_argument (callers check first, to answer with a clear error).
//  * Order: list() returns a group's values in insertion order (overwriting keeps the place,
//    removing and setting again moves the item to the end); list_groups() and list_streams()
//    are sorted (byte order), without duplicates.
//  * Atomicity: each call is atomic; update() is a read-modify-write that no other write to the
//    same item interleaves with. `fn` may run more than once (a remote store retries on
//    conflict), so it must be pure; an exception from `fn` changes nothing and propagates.
//  * Durability is the implementation's; errors throw KvStoreError and change nothing; reads never
//    throw for a missing stream, group or item. Thread-safe; calls may block on I/O.
//
// The Redis adapter (open_redis_stream_store in store/kv_stream_store.h) gives the same semantics
// in the official engine's layout, one hash `stream:<stream>:<group>` per group, with its own
// index of streams and groups beside it: ':' may occur in names, so keys alone are ambiguous.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/kv_store.h"

namespace iii {

class StreamStore {
 public:
  virtual ~StreamStore() = default;

  virtual std::optional<std::string> get(std::string_view stream, std::string_view group, std::string_view item) = 0;
  // Stores `value`; returns the previous value, or nullopt when the item is new.
  virtual std::optional<std::string> set(std::string_view stream, std::string_view group, std::string_view item,
                                         std::string_view value) = 0;
  // Removes the item; returns the removed value, or nullopt when there was none.
  virtual std::optional<std::string> remove(std::string_view stream, std::string_view group, std::string_view item) = 0;
  // Atomically replaces the item with fn(current) (see KvUpdateFn). If fn throws, nothing changes.
  virtual KvUpdate update(std::string_view stream, std::string_view group, std::string_view item,
                          const KvUpdateFn& fn) = 0;
  // The values of one group, in insertion order.
  virtual std::vector<std::string> list(std::string_view stream, std::string_view group) = 0;
  // The groups of one stream holding at least one item, sorted.
  virtual std::vector<std::string> list_groups(std::string_view stream) = 0;
  // Every stream holding at least one item, sorted.
  virtual std::vector<std::string> list_streams() = 0;

  // Every stream holding at least one item, with its groups: what list_streams() and
  // list_groups() of each give, read in one pass where the store can (over Redis each listing
  // walks the keyspace once).
  struct StreamGroups {
    std::string stream;
    std::vector<std::string> groups;
    bool operator==(const StreamGroups&) const = default;
  };
  virtual std::vector<StreamGroups> list_all() {
    std::vector<StreamGroups> out;
    for (std::string& stream : list_streams()) {
      std::vector<std::string> groups = list_groups(stream);
      out.push_back(StreamGroups{std::move(stream), std::move(groups)});
    }
    return out;
  }

  // The asynchronous forms, with KvStore's rules (store/kv_store.h): `done` runs exactly once,
  // before the call returns or later on the store's I/O thread (the Redis store: no thread
  // waits for the round trip); string_view arguments are needed only until the call returns; a
  // name with a NUL byte is answered as std::invalid_argument. By default the synchronous call,
  // answered at once.
  virtual void get_async(std::string_view stream, std::string_view group, std::string_view item,
                         KvDone<std::optional<std::string>> done);
  virtual void set_async(std::string_view stream, std::string_view group, std::string_view item, std::string_view value,
                         KvDone<std::optional<std::string>> done);
  virtual void remove_async(std::string_view stream, std::string_view group, std::string_view item,
                            KvDone<std::optional<std::string>> done);
  virtual void update_async(std::string_view stream, std::string_view group, std::string_view item, KvUpdateFn fn,
                            KvDone<KvUpdate> done);
  virtual void list_async(std::string_view stream, std::string_view group, KvDone<std::vector<std::string>> done);
  virtual void list_groups_async(std::string_view stream, KvDone<std::vector<std::string>> done);
  virtual void list_all_async(KvDone<std::vector<StreamGroups>> done);

  // True when every write that changes an item also announces the change itself, as one step
  // with the write (the Redis store publishes it to every engine): the caller then must not.
  virtual bool publishes_changes() const { return false; }
};

}  // namespace iii
