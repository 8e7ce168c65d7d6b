#include "core/error_body.h"

#include "wire/json_writer.h"

namespace iii {

std::string ErrorBody::to_json() const {
  FrameWriter w(64 + message.size());
  w.string("code", code).string("message", message);
  if (stacktrace) w.string("stacktrace", *stacktrace);
  return w.finish();
}

}  // namespace iii
