#include "unpack/chunk_queue.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

namespace gantry::unpack {
namespace {

// What a producer does: fill a buffer in place, queue it (blocks while full).
void push(ChunkQueue& q, const std::string& text) {
  ChunkQueue::Buffer buffer = q.acquire();
  std::memcpy(buffer.data(), text.data(), text.size());
  q.commit(std::move(buffer), text.size());
}
std::string text_of(const ChunkQueue::Chunk& c) {
  return std::string(reinterpret_cast<const char*>(c.buffer.data()), c.size);
}

TEST(ChunkQueue, CloseEndsThePopsAfterTheLastChunk) {
  ChunkQueue q(4, 16);
  push(q, "a");
  q.close();
  ChunkQueue::Chunk c;
  EXPECT_TRUE(q.pop(c));
  EXPECT_FALSE(q.pop(c));
}

TEST(ChunkQueue, AcquireBlocksWhileFull) {
  ChunkQueue q(1, 8);
  auto b = q.acquire();
  EXPECT_EQ(b.size(), 8u);
  q.commit(std::move(b), 3);
  auto second = std::async(std::launch::async, [&] { return q.acquire().size(); });
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  ChunkQueue::Chunk c;
  ASSERT_TRUE(q.pop(c));
  EXPECT_EQ(c.size, 3u);
  EXPECT_EQ(second.get(), 8u);
}

TEST(ChunkQueue, RecycledBuffersAreReused) {
  ChunkQueue q(2, 1024);
  auto b = q.acquire();
  const std::byte* storage = b.data();
  q.commit(std::move(b), 10);
  ChunkQueue::Chunk c;
  ASSERT_TRUE(q.pop(c));
  q.recycle(std::move(c.buffer));
  EXPECT_EQ(q.acquire().data(), storage);
}

TEST(ChunkQueue, FailureReachesABlockedProducer) {
  ChunkQueue q(1, 8);
  push(q, "x");
  auto producer = std::async(std::launch::async, [&] { (void)q.acquire(); });  // blocks: full
  EXPECT_EQ(producer.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  q.fail(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_THROW(producer.get(), std::runtime_error);
  EXPECT_THROW(q.commit(ChunkQueue::Buffer(8), 1), std::runtime_error);
}

TEST(ChunkQueue, FailureReachesABlockedConsumerAndTheFirstErrorWins) {
  ChunkQueue q(1, 8);
  auto consumer = std::async(std::launch::async, [&] {
    ChunkQueue::Chunk c;
    q.pop(c);  // blocks: nothing queued
  });
  EXPECT_EQ(consumer.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  q.fail(std::make_exception_ptr(std::runtime_error("boom")));
  EXPECT_THROW(consumer.get(), std::runtime_error);
  q.fail(std::make_exception_ptr(std::logic_error("later")));
  ChunkQueue::Chunk c;
  EXPECT_THROW(q.pop(c), std::runtime_error);
}

TEST(ChunkQueue, ThrowIfFailedReportsTheFailureToAProducerNotPushingYet) {
  ChunkQueue q(2, 16);
  EXPECT_NO_THROW(q.throw_if_failed());
  q.fail(std::make_exception_ptr(std::runtime_error("layer failed")));
  EXPECT_THROW(q.throw_if_failed(), std::runtime_error);
}

TEST(ChunkQueue, DropBuffersLetsGoOfQueuedAndPooledChunks) {
  ChunkQueue q(2, 16);
  push(q, "one");
  ChunkQueue::Chunk c;
  ASSERT_TRUE(q.pop(c));
  EXPECT_EQ(text_of(c), "one");
  q.recycle(std::move(c.buffer));
  push(q, "two");
  q.drop_buffers();  // the stream is over: the queued chunk goes too
  q.close();
  EXPECT_FALSE(q.pop(c));
}

// The probes sum how long each side was held up by the other: a lower
// bound only (the sleeps), never a timing goal.
TEST(ChunkQueue, WaitsSumTheTimeEachSideWasBlocked) {
  using std::chrono::milliseconds;
  ChunkQueue q(1, 16);
  EXPECT_EQ(q.waits().consumer, ChunkQueue::Clock::duration{});
  auto popped = std::async(std::launch::async, [&] {
    ChunkQueue::Chunk c;
    return q.pop(c);
  });
  std::this_thread::sleep_for(milliseconds(50));
  push(q, "x");  // a queue of one is full with one
  ASSERT_TRUE(popped.get());
  EXPECT_GE(q.waits().consumer, milliseconds(40));
  ChunkQueue::Chunk c;

  // A blocked acquire() is the producer's wait.
  push(q, "z");
  const auto before = q.waits().producer;
  auto acquired = std::async(std::launch::async, [&] { return q.acquire().size(); });
  std::this_thread::sleep_for(milliseconds(30));
  ASSERT_TRUE(q.pop(c));
  EXPECT_EQ(acquired.get(), 16u);
  EXPECT_GE(q.waits().producer - before, milliseconds(25));
}

}  // namespace
}  // namespace gantry::unpack
