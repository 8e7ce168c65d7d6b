#include "store/redis_script.h"

#include <openssl/evp.h>

namespace iii {

RedisScript::RedisScript(std::string text) : body(std::move(text)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(body.data(), body.size(), digest, &size, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < size; ++i) sha += kHex[digest[i] >> 4], sha += kHex[digest[i] & 0xf];
}

RedisReply run_script(RedisPool& pool, const RedisScript& script, const std::vector<std::string_view>& keys,
                      const std::vector<std::string_view>& args) {
  const std::string count = std::to_string(keys.size());
  std::vector<std::string_view> command{"EVALSHA", script.sha, count};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  RedisReply reply = pool.run(command);
  if (reply.is_error() && reply.str.starts_with("NOSCRIPT")) {
    command[0] = "EVAL", command[1] = script.body;  // loads it for the next EVALSHA
    reply = pool.run(command);
  }
  if (reply.is_error()) throw RedisError("redis " + pool.endpoint().address() + ": " + reply.str);
  return reply;
}

void run_script_async(const std::shared_ptr<RedisClient>& client, const RedisScript& script,
                      const std::vector<std::string_view>& keys, const std::vector<std::string_view>& args,
                      RedisCallback done) {
  const std::string count = std::to_string(keys.size());
  std::vector<std::string_view> command{"EVALSHA", script.sha, count};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  // Kept for an EVAL after NOSCRIPT (the caller's views end when this returns): a copy of a few
  // short strings, rather than a second round trip each time.
  std::vector<std::string> kept(command.begin() + 2, command.end());
  RedisCallback answer = failing_on_error_reply(client->address(), std::move(done));
  client->command(command, [client, script = &script, kept = std::move(kept), answer = std::move(answer)](
                               std::exception_ptr e, RedisReply r) mutable {
    if (e || !r.is_error() || !r.str.starts_with("NOSCRIPT")) return answer(e, std::move(r));
    std::vector<std::string_view> eval{"EVAL", script->body};  // loads it for the next EVALSHA
    eval.insert(eval.end(), kept.begin(), kept.end());
    client->command(eval, std::move(answer));
  });
}

}  // namespace iii
