// The default asynchronous forms of KvStore (store/kv_store.h): the synchronous call, answered
// before returning.
#include "store/kv_store.h"

namespace iii {

void KvStore::get_async(std::string_view scope, std::string_view key, KvDone<std::optional<std::string>> done) {
  answer_inline(done, [&] { return get(scope, key); });
}

void KvStore::set_async(std::string_view scope, std::string_view key, std::string_view value,
                        KvDone<std::optional<std::string>> done) {
  answer_inline(done, [&] { return set(scope, key, value); });
}

void KvStore::remove_async(std::string_view scope, std::string_view key, KvDone<std::optional<std::string>> done) {
  answer_inline(done, [&] { return remove(scope, key); });
}

void KvStore::update_async(std::string_view scope, std::string_view key, KvUpdateFn fn, KvDone<KvUpdate> done) {
  answer_inline(done, [&] { return update(scope, key, fn); });
}

void KvStore::entries_async(std::string_view scope, KvDone<std::vector<KvEntry>> done) {
  answer_inline(done, [&] { return entries(scope); });
}

void KvStore::list_groups_async(KvDone<std::vector<std::string>> done) {
  answer_inline(done, [&] { return list_groups(); });
}

}  // namespace iii
