// Asio's io_context, declared for headers that take one by reference without including Asio
// (which costs every includer seconds of compile time).
#pragma once

namespace boost::asio {
class io_context;
}  // namespace boost::asio
