#include "engine/layer_window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace gantry::engine {
namespace {

// Records the order of the steps and how many layers were in flight.
struct Recorder {
  std::mutex mutex;
  std::vector<std::string> steps;
  std::size_t running = 0;
  std::size_t most_running = 0;
  std::vector<std::exception_ptr> stops;

  LayerSteps steps_for(std::size_t failing = SIZE_MAX) {
    return LayerSteps{
        .start =
            [this](std::size_t i) {
              std::lock_guard lock(mutex);
              steps.push_back("start " + std::to_string(i));
              most_running = std::max(most_running, ++running);
            },
        .finish =
            [this, failing](std::size_t i) {
              std::lock_guard lock(mutex);
              steps.push_back("finish " + std::to_string(i));
              --running;
              if (i == failing) throw std::runtime_error("layer " + std::to_string(i) + " failed");
            },
        .stop_all =
            [this](std::exception_ptr error) {
              std::lock_guard lock(mutex);
              stops.push_back(error);
            },
    };
  }
};

TEST(LayerWindow, StartsBottomFirstWithAtMostTheLimitInFlight) {
  Recorder r;
  LayerBudget budget(8);
  LayerWindow window(5, 2, budget, r.steps_for());
  EXPECT_EQ(window.join(), nullptr);
  EXPECT_EQ(r.steps, (std::vector<std::string>{"start 0", "start 1", "finish 0", "start 2", "finish 1", "start 3",
                                               "finish 2", "start 4", "finish 3", "finish 4"}));
  EXPECT_EQ(r.most_running, 2u);
  EXPECT_TRUE(r.stops.empty());
}

TEST(LayerWindow, AFailureStopsEveryLayerAndNoneStartsAfterIt) {
  Recorder r;
  LayerBudget budget(8);
  LayerWindow window(6, 2, budget, r.steps_for(1));
  std::exception_ptr failure = window.join();
  ASSERT_NE(failure, nullptr);
  EXPECT_THROW(std::rethrow_exception(failure), std::runtime_error);
  // Layer 2 had started (layer 1 was the lowest in flight); it is finished
  // too, and nothing above it starts.
  EXPECT_EQ(r.steps, (std::vector<std::string>{"start 0", "start 1", "finish 0", "start 2", "finish 1", "finish 2"}));
  ASSERT_EQ(r.stops.size(), 1u);
  EXPECT_EQ(r.stops[0], failure);
}

TEST(LayerWindow, AbandonedWindowStopsTheLayersBeforeJoining) {
  // The layer in flight only ends once stopped (as a pipeline whose input
  // never comes): the destructor must stop it, not wait for ever.
  std::mutex mutex;
  std::condition_variable changed;
  bool stopped = false;
  {
    LayerBudget budget(1);
    LayerWindow window(1, 1, budget,
                       LayerSteps{.start = [](std::size_t) {},
                                  .finish =
                                      [&](std::size_t) {
                                        std::unique_lock lock(mutex);
                                        changed.wait(lock, [&] { return stopped; });
                                      },
                                  .stop_all =
                                      [&](std::exception_ptr) {
                                        std::lock_guard lock(mutex);
                                        stopped = true;
                                        changed.notify_all();
                                      }});
  }
  EXPECT_TRUE(stopped);
}

TEST(LayerWindow, WindowsSharingABudgetStayWithinItAndAllFinish) {
  // Three images of 6 layers, each allowed 3 in flight, 2 places over all:
  // never more than 2 at once, and no window waits for ever for a place
  // another holds.
  Recorder r;
  LayerBudget budget(2);
  std::vector<std::unique_ptr<LayerWindow>> windows;
  for (int i = 0; i < 3; ++i) windows.push_back(std::make_unique<LayerWindow>(6, 3, budget, r.steps_for()));
  for (auto& window : windows) EXPECT_EQ(window->join(), nullptr);
  EXPECT_EQ(r.steps.size(), 3u * 6 * 2);
  EXPECT_LE(r.most_running, 2u);
  EXPECT_EQ(r.running, 0u);
  // Every place was given back.
  EXPECT_TRUE(budget.try_take());
  EXPECT_TRUE(budget.try_take());
  EXPECT_FALSE(budget.try_take());
}

TEST(LayerWindow, LayersInFlightFollowTheDownloads) {
  EXPECT_EQ(layers_in_flight(4), 4u);
  EXPECT_EQ(layers_in_flight(1), 1u);
  EXPECT_EQ(layers_in_flight(0), 1u);
}

}  // namespace
}  // namespace gantry::engine
