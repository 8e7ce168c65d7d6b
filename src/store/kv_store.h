// A key-value store addressed by (scope, key), holding raw JSON text values.
//
// Contract (every implementation passes tests/unit/kv_store_test.cpp):
//  * A scope is a group of keys. It exists while it holds at least one key: list_groups() never
//    shows an emptied scope, and list() of an unknown scope is empty.
//  * Values are opaque to the store. REQUIRES: every value handed to the store is one complete,
//    valid JSON text (the store does not parse it; callers read back exactly the bytes they wrote).
//  * Scopes and keys are arbitrary byte strings (normally UTF-8), compared byte by byte.
//  * Order: list()/entries() return a scope's keys in insertion order. Overwriting a key (set,
//    update) keeps its place; removing it and setting it again moves it to the end.
//  * Atomicity: each call is atomic. update() is a read-modify-write that no other write to the
//    same key can interleave with.
//  * Durability is the implementation's: MemoryKvStore loses everything with the process;
//    SqliteKvStore keeps every write that returned, across a crash of the process.
//  * Errors: a store that cannot do what was asked (I/O error, full disk, closed database) throws
//    KvStoreError and changes nothing. Reads never throw for a missing scope or key.
//  * Thread safety: all methods may be called concurrently from any thread.
//  * Calls may block on I/O (a disk write, a network round trip for a remote store).
//  * Asynchronous forms (`*_async`): the same operations with the same semantics, answered through
//    a callback instead of a return value, for callers that must not wait (the state functions,
//    which run on the engine's network threads). By default they run the synchronous call and
//    answer before returning (memory, SQLite: microseconds, not worth a thread); the Redis store
//    answers later from its client's thread without any thread waiting (docs/redis.md).
//
// The interface is small on purpose so that a networked adapter (Redis: one hash per scope plus
// an ordering index) can give the same semantics. update() takes a C++ function rather than a
// list of operations; a remote adapter runs it optimistically (read, apply, conditional write,
// retry on conflict), which is why `fn` must be a pure function of its argument.
#pragma once
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct KvStoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct KvEntry {
  std::string key;
  std::string value;  // raw JSON text
};

// The outcome of update(): the value before, and the value the key holds afterwards.
struct KvUpdate {
  std::optional<std::string> old_value;  // nullopt: the key did not exist
  std::optional<std::string> new_value;  // nullopt: fn left the key as it was (and it was absent)
};

// Computes the new value of a key from its current one (nullopt when the key is absent). Returns
// the value to store, or nullopt to leave the key untouched. May run more than once per update()
// (optimistic retries), so it must be pure: no side effects, same answer for the same input.
using KvUpdateFn = std::function<std::optional<std::string>(const std::optional<std::string>& current)>;

// The answer of an asynchronous call: `error` (what the synchronous form would throw) or `value`.
template <class T>
using KvDone = std::function<void(std::exception_ptr error, T value)>;

// Answers `done` with what `run` returns, or with what it throws; `done` runs outside the try, so
// that an exception of the caller's callback is not taken for the store's. The default
// asynchronous forms (here and in store/stream_store.h) are this around the synchronous call.
template <class T, class F>
void answer_inline(const KvDone<T>& done, F&& run) {
  T value{};
  try {
    value = run();
  } catch (...) {
    done(std::current_exception(), T{});
    return;
  }
  done(nullptr, std::move(value));
}

class KvStore {
 public:
  virtual ~KvStore() = default;

  // The value of (scope, key), or nullopt.
  virtual std::optional<std::string> get(std::string_view scope, std::string_view key) = 0;

  // Stores `value` under (scope, key). Returns the previous value, or nullopt if the key is new.
  virtual std::optional<std::string> set(std::string_view scope, std::string_view key, std::string_view value) = 0;

  // Removes (scope, key). Returns the removed value, or nullopt if there was none.
  virtual std::optional<std::string> remove(std::string_view scope, std::string_view key) = 0;

  // Atomically replaces the value of (scope, key) with fn(current). If fn throws, nothing changes
  // and the exception propagates.
  virtual KvUpdate update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) = 0;

  // The values of `scope`, in insertion order. Empty for an unknown scope.
  virtual std::vector<std::string> list(std::string_view scope) = 0;

  // The keys and values of `scope`, in insertion order.
  virtual std::vector<KvEntry> entries(std::string_view scope) = 0;

  // Every scope holding at least one key, sorted (byte order), without duplicates.
  virtual std::vector<std::string> list_groups() = 0;

  // The asynchronous forms. `done` runs exactly once, with no lock of the store held; it may run
  // before the call returns, or later on another thread (which must not then wait for this
  // store). string_view arguments are needed only until the call returns. `fn` of update_async
  // may run on that other thread.
  virtual void get_async(std::string_view scope, std::string_view key, KvDone<std::optional<std::string>> done);
  virtual void set_async(std::string_view scope, std::string_view key, std::string_view value,
                         KvDone<std::optional<std::string>> done);
  virtual void remove_async(std::string_view scope, std::string_view key, KvDone<std::optional<std::string>> done);
  virtual void update_async(std::string_view scope, std::string_view key, KvUpdateFn fn, KvDone<KvUpdate> done);
  virtual void entries_async(std::string_view scope, KvDone<std::vector<KvEntry>> done);
  virtual void list_groups_async(KvDone<std::vector<std::string>> done);
};

}  // namespace iii
