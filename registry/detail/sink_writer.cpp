#include "registry/detail/sink_writer.hpp"

#include <stdexcept>
#include <utility>

#include <boost/asio/post.hpp>

namespace gantry::registry::detail {

void SinkWriter::start(std::span<const std::byte> bytes, asio::any_io_executor executor) {
  if (busy()) throw std::logic_error("SinkWriter: a write is already in flight");
  notifier_ = std::make_shared<Notifier>(std::move(executor));
  // The waker posts to the I/O thread's executor: what this thread wrote
  // to flow_ and error_ is seen there once wait() resumes.
  asio::post(writers_, [this, bytes, wake = notifier_->waker()] {
    try {
      flow_ = sink_.write(bytes);
    } catch (...) {
      error_ = std::current_exception();
    }
    wake();
  });
}

asio::awaitable<SinkFlow> SinkWriter::wait() {
  if (!busy()) co_return SinkFlow::more;
  co_await notifier_->wait();
  notifier_.reset();
  if (std::exception_ptr error = std::exchange(error_, nullptr)) std::rethrow_exception(error);
  co_return flow_;
}

}  // namespace gantry::registry::detail
