// The default asynchronous forms of StreamStore (store/stream_store.h): the synchronous call,
// answered before returning.
#include "store/stream_store.h"

namespace iii {

void StreamStore::get_async(std::string_view stream, std::string_view group, std::string_view item,
                            KvDone<std::optional<std::string>> done) {
  answer_inline(done, [&] { return get(stream, group, item); });
}

void StreamStore::set_async(std::string_view stream, std::string_view group, std::string_view item,
                            std::string_view value, KvDone<std::optional<std::string>> done) {
  answer_inline(done, [&] { return set(stream, group, item, value); });
}

void StreamStore::remove_async(std::string_view stream, std::string_view group, std::string_view item,
                               KvDone<std::optional<std::string>> done) {
  answer_inline(done, [&] { return remove(stream, group, item); });
}

void StreamStore::update_async(std::string_view stream, std::string_view group, std::string_view item, KvUpdateFn fn,
                               KvDone<KvUpdate> done) {
  answer_inline(done, [&] { return update(stream, group, item, fn); });
}

void StreamStore::list_async(std::string_view stream, std::string_view group, KvDone<std::vector<std::string>> done) {
  answer_inline(done, [&] { return list(stream, group); });
}

void StreamStore::list_groups_async(std::string_view stream, KvDone<std::vector<std::string>> done) {
  answer_inline(done, [&] { return list_groups(stream); });
}

void StreamStore::list_all_async(KvDone<std::vector<StreamGroups>> done) {
  answer_inline(done, [&] { return list_all(); });
}

}  // namespace iii
