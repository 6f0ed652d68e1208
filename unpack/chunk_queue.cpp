#include "unpack/chunk_queue.hpp"

#include <utility>

namespace gantry::unpack {

ChunkQueue::ChunkQueue(std::size_t capacity, std::size_t chunk_size)
    : capacity_(capacity == 0 ? 1 : capacity), chunk_size_(chunk_size) {}

void ChunkQueue::rethrow_locked() const {
  if (error_) std::rethrow_exception(error_);
}

ChunkQueue::Buffer ChunkQueue::acquire() {
  std::unique_lock lock(mutex_);
  wait_counted(lock, waits_.producer, [&] { return error_ || !full_locked(); });
  rethrow_locked();
  Buffer buffer;
  if (!pool_.empty()) {
    buffer = std::move(pool_.back());
    pool_.pop_back();
  }
  if (buffer.size() < chunk_size_) buffer.resize(chunk_size_);
  return buffer;
}

void ChunkQueue::commit(Buffer buffer, std::size_t size) {
  std::unique_lock lock(mutex_);
  rethrow_locked();
  queued_.push_back(Chunk{std::move(buffer), size});
  changed_.notify_all();
}

void ChunkQueue::close() {
  std::unique_lock lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

bool ChunkQueue::pop(Chunk& out) {
  std::unique_lock lock(mutex_);
  wait_counted(lock, waits_.consumer, [&] { return error_ || !queued_.empty() || closed_; });
  rethrow_locked();
  if (queued_.empty()) return false;
  out = std::move(queued_.front());
  queued_.pop_front();
  changed_.notify_all();
  return true;
}

void ChunkQueue::recycle(Buffer buffer) {
  std::unique_lock lock(mutex_);
  if (pool_.size() < capacity_ + 1) pool_.push_back(std::move(buffer));
}

void ChunkQueue::fail(std::exception_ptr error) {
  std::unique_lock lock(mutex_);
  if (!error_) error_ = std::move(error);
  changed_.notify_all();
}

ChunkQueue::Waits ChunkQueue::waits() {
  std::unique_lock lock(mutex_);
  return waits_;
}

void ChunkQueue::throw_if_failed() {
  std::unique_lock lock(mutex_);
  rethrow_locked();
}

void ChunkQueue::drop_buffers() {
  std::unique_lock lock(mutex_);
  std::deque<Chunk>().swap(queued_);
  std::vector<Buffer>().swap(pool_);
}

}  // namespace gantry::unpack
