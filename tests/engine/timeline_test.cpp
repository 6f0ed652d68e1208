#include "engine/timeline.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/error.hpp"
#include "engine/layer_window.hpp"

namespace gantry::engine {
namespace {

using Clock = Timeline::Clock;
using std::chrono::milliseconds;

std::vector<core::Descriptor> layers(std::size_t n) {
  std::vector<core::Descriptor> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(core::Descriptor{.media_type = "application/vnd.oci.image.layer.v1.tar",
                                   .digest = core::digest_of(std::to_string(i)),
                                   .size = 1});
  }
  return out;
}

TEST(Timeline, StampsArePhasesInSecondsSinceTheOrigin) {
  const Clock::time_point origin = Clock::now();
  Timeline timeline(origin);
  ImageTimeline image = timeline.add_image("example.com/a:1");
  image.set_layers(layers(2));
  image.mark(ImagePhase::resolve, origin + milliseconds(250));
  image.mark(1, LayerPhase::applied, origin + milliseconds(1500));

  ImageRecord record = image.record();
  EXPECT_EQ(record.reference, "example.com/a:1");
  EXPECT_DOUBLE_EQ(*record.when(ImagePhase::resolve), 0.25);
  EXPECT_FALSE(record.when(ImagePhase::config).has_value());
  ASSERT_EQ(record.layers.size(), 2u);
  EXPECT_EQ(record.layers[1].digest, core::digest_of("1"));
  EXPECT_DOUBLE_EQ(*record.layers[1].when(LayerPhase::applied), 1.5);
  EXPECT_FALSE(record.layers[0].when(LayerPhase::applied).has_value());
}

TEST(Timeline, AStampAgainKeepsTheLatest) {
  const Clock::time_point origin = Clock::now();
  Timeline timeline(origin);
  ImageTimeline image = timeline.add_image("a");
  image.set_layers(layers(1));
  image.mark(0, LayerPhase::committed, origin + milliseconds(100));
  image.mark(0, LayerPhase::committed, origin + milliseconds(300));
  EXPECT_DOUBLE_EQ(*image.record().layers[0].when(LayerPhase::committed), 0.3);
}

TEST(Timeline, AFirstStampKeepsTheEarliest) {
  const Clock::time_point origin = Clock::now();
  Timeline timeline(origin);
  ImageTimeline image = timeline.add_image("a");
  image.set_layers(layers(1));
  image.mark_first(0, LayerPhase::first_byte, origin + milliseconds(100));
  image.mark_first(0, LayerPhase::first_byte, origin + milliseconds(300));
  EXPECT_DOUBLE_EQ(*image.record().layers[0].when(LayerPhase::first_byte), 0.1);
}

TEST(Timeline, WaitsAddUpPerLayerAndKind) {
  Timeline timeline;
  ImageTimeline image = timeline.add_image("a");
  image.set_layers(layers(2));
  image.add_wait(0, LayerWait::network, milliseconds(100));
  image.add_wait(0, LayerWait::network, milliseconds(50));
  image.add_wait(1, LayerWait::applier, milliseconds(20));
  ImageRecord record = image.record();
  EXPECT_DOUBLE_EQ(record.layers[0].seconds_waiting(LayerWait::network), 0.15);
  EXPECT_DOUBLE_EQ(record.layers[0].seconds_waiting(LayerWait::decoder), 0);
  EXPECT_DOUBLE_EQ(record.layers[1].seconds_waiting(LayerWait::applier), 0.02);
}

TEST(Timeline, ImagesKeepTheirOwnRecordsInTheOrderSubmitted) {
  Timeline timeline;
  ImageTimeline a = timeline.add_image("a");
  ImageTimeline b = timeline.add_image("b");
  b.set_layers(layers(3));
  a.set_layers(layers(1));
  std::vector<ImageRecord> images = timeline.images();
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].reference, "a");
  EXPECT_EQ(images[0].layers.size(), 1u);
  EXPECT_EQ(images[1].reference, "b");
  EXPECT_EQ(images[1].layers.size(), 3u);
  EXPECT_LE(images[0].submitted, images[1].submitted);
}

TEST(Timeline, LayersSetAgainMustBeTheSame) {
  Timeline timeline;
  ImageTimeline image = timeline.add_image("a");
  image.set_layers(layers(2));
  image.set_layers(layers(2));  // a retried pass of the same image
  EXPECT_EQ(image.record().layers.size(), 2u);
  EXPECT_THROW(image.set_layers(layers(3)), std::logic_error);
}

TEST(Timeline, RefusesMoreLayersThanTheEngineUnpacks) {
  Timeline timeline;
  ImageTimeline image = timeline.add_image("a");
  EXPECT_THROW(image.set_layers(layers(kMaxLayers + 1)), core::Error);
}

TEST(Timeline, ALayerOutOfRangeIsABugNotASilentDrop) {
  Timeline timeline;
  ImageTimeline image = timeline.add_image("a");
  image.set_layers(layers(1));
  EXPECT_THROW(image.mark(1, LayerPhase::queued), std::out_of_range);
  EXPECT_THROW(image.add_wait(5, LayerWait::network, milliseconds(1)), std::out_of_range);
}

TEST(Timeline, StampsFromManyThreadsAllLand) {
  Timeline timeline;
  ImageTimeline image = timeline.add_image("a");
  constexpr std::size_t kThreads = 8;
  constexpr int kWaits = 1000;
  image.set_layers(layers(kThreads));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWaits; ++i) image.add_wait(t, LayerWait::decoder, milliseconds(1));
      image.mark(t, LayerPhase::verified);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const LayerRecord& layer : image.record().layers) {
    EXPECT_NEAR(layer.seconds_waiting(LayerWait::decoder), kWaits * 0.001, 1e-9);
    EXPECT_TRUE(layer.when(LayerPhase::verified).has_value());
  }
}

TEST(Timeline, EveryPhaseAndWaitHasAName) {
  EXPECT_EQ(to_string(ImagePhase::config), "config");
  EXPECT_EQ(to_string(LayerPhase::first_byte), "first_byte");
  EXPECT_EQ(to_string(LayerPhase::committed), "committed");
  EXPECT_EQ(to_string(LayerWait::applier), "applier");
}

TEST(Timeline, TheTimelineEventHoldsThePhasesReachedAndEveryWait) {
  const Clock::time_point origin = Clock::now();
  Timeline timeline(origin);
  ImageTimeline image = timeline.add_image("example.com/a:1");
  image.set_layers(layers(2));
  image.mark(ImagePhase::resolve, origin + milliseconds(100));
  image.mark(0, LayerPhase::queued, origin + milliseconds(200));
  image.mark(0, LayerPhase::committed, origin + milliseconds(900));
  image.add_wait(1, LayerWait::applier, milliseconds(300));

  const core::progress::ImageTimes event = times_event(image.record());
  EXPECT_EQ(event.reference, "example.com/a:1");
  using Marks = core::progress::ImageTimes::Marks;
  EXPECT_EQ(event.at, (Marks{{"resolve", 0.1}}));
  ASSERT_EQ(event.layers.size(), 2u);
  EXPECT_EQ(event.layers[0].digest, core::digest_of("0"));
  EXPECT_EQ(event.layers[0].at, (Marks{{"queued", 0.2}, {"committed", 0.9}}));
  EXPECT_TRUE(event.layers[1].at.empty());
  EXPECT_EQ(event.layers[1].waited, (Marks{{"network", 0.0}, {"decoder", 0.0}, {"applier", 0.3}}));
}

}  // namespace
}  // namespace gantry::engine
